//! JSON exactly as the Python runner reads and writes it.
//!
//! The runner writes every JSON file with `json.dump(obj, indent=2)`: ASCII-only escaping,
//! Python's float `repr`, insertion key order, no trailing newline, and the non-standard bare
//! tokens `Infinity` / `NaN` for non-finite floats (docs/format.md#json-bytes). [`parse`] accepts those tokens
//! and [`to_string`] reproduces the bytes, so an intact file round-trips byte for byte.
//!
//! Values are `serde_json::Value` (with `preserve_order`, so objects keep insertion order).
//! `serde_json` cannot hold a non-finite number, so `Infinity`, `-Infinity` and `NaN` are held
//! as sentinel strings that start with a NUL character (which no real file contains); use
//! [`float`] to build a number and [`as_f64`] to read one, and the sentinels never leak.

use serde_json::{Map, Value};
use std::fmt::Write as _;

const POS_INF: &str = "\u{0}Infinity";
const NEG_INF: &str = "\u{0}-Infinity";
const NAN: &str = "\u{0}NaN";

/// A JSON syntax error, with the byte offset's line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The document ended early (a file cut short).
    pub eof: bool,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    pub(super) fn from_serde(e: &serde_json::Error) -> Self {
        let full = e.to_string();
        // serde_json appends " at line L column C"; keep only the description.
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        let message = if e.is_eof() { format!("truncated JSON ({message})") } else { message };
        ParseError { line: e.line(), column: e.column(), message, eof: e.is_eof() }
    }
}

/// Parses a JSON document, accepting Python's bare `Infinity`, `-Infinity` and `NaN`.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(&standard(bytes)).map_err(|e| ParseError::from_serde(&e))
}

/// The document with Python's bare non-finite tokens made standard JSON (a copy only when it
/// has any).
pub(super) fn standard(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if has_nonfinite_token(bytes) {
        std::borrow::Cow::Owned(patch_nonfinite(bytes))
    } else {
        std::borrow::Cow::Borrowed(bytes)
    }
}

/// [`parse`] without the values of the keys in `skip`, at any depth: they are passed over
/// unread into memory. For reading a few recorded fields out of a file that embeds much more
/// (an aggregate's previous `result.json` embeds every run).
pub fn parse_pruned(bytes: &[u8], skip: &[&str]) -> Result<Value, ParseError> {
    parse_with(bytes, Pruned { skip, run_keep: None, role: Role::Any })
}

/// Removes `key` from every object of `v`, at any depth: [`parse_pruned`] for a value already
/// in memory.
pub fn remove_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => {
            m.shift_remove(key);
            m.values_mut().for_each(|x| remove_key(x, key));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| remove_key(x, key)),
        _ => {}
    }
}

/// [`parse`] keeping only the keys `keep` of every object in an array under a `"runs"` key (an
/// aggregate's embedded runs), at any depth; everything else whole.
pub fn parse_lean_runs(bytes: &[u8], keep: &[&str]) -> Result<Value, ParseError> {
    parse_with(bytes, Pruned { skip: &[], run_keep: Some(keep), role: Role::Any })
}

fn parse_with(bytes: &[u8], seed: Pruned) -> Result<Value, ParseError> {
    use serde::de::DeserializeSeed;
    let bytes = standard(bytes);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let v = seed.deserialize(&mut de).map_err(|e| ParseError::from_serde(&e))?;
    de.end().map_err(|e| ParseError::from_serde(&e))?;
    Ok(v)
}

/// Every scalar value of a key in `keys` (at any depth; a container under such a key is
/// searched further), by its path (`/key/0/key`), in document order, without building the
/// document: a 1.7 GB aggregate yields its few measured values in one pass and little memory.
pub fn scalars_under(bytes: &[u8], keys: &[&str]) -> Result<Vec<(String, Value)>, ParseError> {
    use serde::de::DeserializeSeed;
    let bytes = standard(bytes);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let state = std::cell::RefCell::new(Scalars { path: String::new(), out: Vec::new() });
    Walk { keys, state: &state, record: false }.deserialize(&mut de).map_err(|e| ParseError::from_serde(&e))?;
    de.end().map_err(|e| ParseError::from_serde(&e))?;
    Ok(state.into_inner().out)
}

struct Scalars {
    path: String,
    out: Vec<(String, Value)>,
}

/// The walk of [`scalars_under`]: `record` when the value stands under one of the keys.
#[derive(Clone, Copy)]
struct Walk<'s> {
    keys: &'s [&'s str],
    state: &'s std::cell::RefCell<Scalars>,
    record: bool,
}

impl Walk<'_> {
    /// Records a scalar when it stands under a key (the value is made only then).
    fn scalar(self, v: impl FnOnce() -> Value) {
        if self.record {
            let mut st = self.state.borrow_mut();
            let path = st.path.clone();
            st.out.push((path, v()));
        }
    }

    /// Walks one child at `step` below the current path.
    fn child<T>(self, step: std::fmt::Arguments, record: bool, walk: impl FnOnce(Self) -> T) -> T {
        let len = self.state.borrow().path.len();
        {
            let mut st = self.state.borrow_mut();
            st.path.push('/');
            let _ = st.path.write_fmt(step);
        }
        let out = walk(Walk { record, ..self });
        self.state.borrow_mut().path.truncate(len);
        out
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.scalar(|| Value::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(|| Value::from(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.scalar(|| Value::from(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.scalar(|| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(|| Value::String(v.to_string()));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.scalar(|| Value::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.scalar(|| Value::Null);
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let more = self.child(format_args!("{i}"), false, |w| seq.next_element_seed(w))?;
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let record = self.keys.contains(&k.as_ref());
            self.child(format_args!("{k}"), record, |w| map.next_value_seed(w))?;
        }
        Ok(())
    }
}

/// Where a value is, for [`Pruned`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Any,
    /// The value of a `"runs"` key.
    Runs,
    /// An element of such an array.
    Run,
}

/// Builds a [`Value`], skipping the values of some keys.
#[derive(Clone, Copy)]
struct Pruned<'s> {
    /// Keys skipped everywhere.
    skip: &'s [&'s str],
    /// The only keys kept of a run object, when set.
    run_keep: Option<&'s [&'s str]>,
    role: Role,
}

impl Pruned<'_> {
    fn at(self, role: Role) -> Self {
        Pruned { role, ..self }
    }

    fn skips(&self, key: &str) -> bool {
        self.skip.contains(&key) || (self.role == Role::Run && self.run_keep.is_some_and(|k| !k.contains(&key)))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pruned<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        let item = self.at(if self.role == Role::Runs { Role::Run } else { Role::Any });
        while let Some(v) = seq.next_element_seed(item)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if self.skips(&k) {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                let v = map.next_value_seed(self.at(if k == "runs" { Role::Runs } else { Role::Any }))?;
                out.insert(k, v);
            }
        }
        Ok(Value::Object(out))
    }
}

fn has_nonfinite_token(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"Infinity").is_some() || memchr::memmem::find(bytes, b"NaN").is_some()
}

/// Rewrites bare non-finite tokens outside strings into sentinel strings.
fn patch_nonfinite(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let token: Option<(usize, &str)> = if rest.starts_with(b"-Infinity") {
            Some((9, NEG_INF))
        } else if rest.starts_with(b"Infinity") {
            Some((8, POS_INF))
        } else if rest.starts_with(b"NaN") {
            Some((3, NAN))
        } else {
            None
        };
        if let Some((len, sentinel)) = token {
            out.push(b'"');
            out.extend_from_slice(b"\\u0000");
            out.extend_from_slice(&sentinel.as_bytes()[1..]);
            out.push(b'"');
            i += len;
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A JSON number for `f`, or the sentinel for a non-finite value.
pub fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::String(NAN.to_string())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { POS_INF } else { NEG_INF }.to_string())
    } else {
        // Cannot fail for a finite value.
        serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Reads a number (integer, float or non-finite sentinel) as `f64`.
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            POS_INF => Some(f64::INFINITY),
            NEG_INF => Some(f64::NEG_INFINITY),
            NAN => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

/// Serializes like Python's `json.dumps(v, indent=2)` (no trailing newline).
pub fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, v, 0);
    out
}

/// A string value [`splice`] replaces: a NUL, then a number drawn afresh by each process, so no
/// file can hold one.
pub fn splice_marker(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let nonce = NONCE.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    format!("\u{0}darn-splice:{nonce:016x}:{name}")
}

/// Replaces, in `rendered` (from [`to_string`]), each string value made by
/// [`splice_marker`]`(name)` with its `text`, a value rendered on its own by [`to_string`],
/// re-indented to where the marker stands. The output is what rendering the whole value at once
/// gives: a nested value's lines are its own lines indented by its depth. Large parts can so be
/// rendered and dropped before the rest is built. `None` when a marker is not there.
pub fn splice(rendered: &str, parts: &[(String, String)]) -> Option<String> {
    let mut at: Vec<(usize, usize, &str)> = Vec::with_capacity(parts.len());
    for (name, text) in parts {
        let mut quoted = String::new();
        write_str(&mut quoted, &splice_marker(name));
        let start = rendered.find(&quoted)?;
        at.push((start, start + quoted.len(), text));
    }
    at.sort_by_key(|a| a.0);
    let size = rendered.len() + parts.iter().map(|(_, t)| t.len() + t.len() / 4).sum::<usize>();
    let mut out = String::with_capacity(size);
    let mut done = 0;
    for (start, end, text) in at {
        out.push_str(&rendered[done..start]);
        let line_start = rendered[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = &rendered[line_start..start];
        let pad = &line[..line.len() - line.trim_start_matches(' ').len()];
        for (i, l) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
                out.push_str(pad);
            }
            out.push_str(l);
        }
        done = end;
    }
    out.push_str(&rendered[done..]);
    Some(out)
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_number(out: &mut String, n: &serde_json::Number, float: impl Fn(f64) -> String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&float(f));
    }
}

/// A string, or one of the non-finite floats darn keeps as marker strings.
fn write_string(out: &mut String, s: &str, escape: impl Fn(&mut String, &str)) {
    match s {
        POS_INF => out.push_str("Infinity"),
        NEG_INF => out.push_str("-Infinity"),
        NAN => out.push_str("NaN"),
        _ => escape(out, s),
    }
}

fn write_value(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n, float_repr),
        Value::String(s) => write_string(out, s, write_str),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(out, level + 1);
                write_value(out, item, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, level),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>, level: usize) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, (k, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\n');
        indent(out, level + 1);
        write_str(out, k);
        out.push_str(": ");
        write_value(out, item, level + 1);
    }
    out.push('\n');
    indent(out, level);
    out.push('}');
}

/// Writes a string with `ensure_ascii=True` escaping.
pub fn write_str(out: &mut String, s: &str) {
    write_escaped(out, s, true);
}

/// Writes a JSON string literal. Both Python and JavaScript use the short escapes; with `ascii`
/// (Python's `ensure_ascii`) every other character outside space..`~` becomes `\uXXXX`
/// (surrogate pairs above the BMP), without it only control characters do (`JSON.stringify`).
pub fn write_escaped(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    write_escaped_inner(out, s, ascii);
    out.push('"');
}

/// The inside of [`write_escaped`]'s literal.
fn write_escaped_inner(out: &mut String, s: &str, ascii: bool) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c if !ascii && (c as u32) >= 0x20 => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integral values, exponent form
/// (`1e-05`, `1.5e+16`) when the decimal exponent is below -4 or at least 16.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Rust's `{:e}` finds how many digits the shortest round-trip form needs; printing that
    // many digits again with exact rounding (ties to even) picks the same digits as Python when
    // two shortest candidates exist (e.g. ...429.625 -> ...429.62, not .63).
    let shortest = format!("{:e}", f.abs());
    let n_digits = shortest.split_once('e').map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let sci = format!("{:.*e}", n_digits.saturating_sub(1), f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1; // position of the decimal point relative to the digit string
    let mut out = String::with_capacity(24);
    if f < 0.0 {
        out.push('-');
    }
    if (-4 < decpt) && (decpt <= 16) {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let d = decpt as usize;
            if digits.len() <= d {
                out.push_str(&digits);
                for _ in digits.len()..d {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..d]);
                out.push('.');
                out.push_str(&digits[d..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// How a one-line JSON document is written: Python's `json.dumps` and JavaScript's
/// `JSON.stringify` differ in separators, key order, escaping and number formatting.
pub struct CompactStyle {
    pub item_sep: &'static str,
    pub key_sep: &'static str,
    pub sort_keys: bool,
    /// Writes a string literal, quotes included.
    pub string: fn(&mut String, &str),
    /// Writes a non-integral number.
    pub float: fn(f64) -> String,
}

/// Python's `json.dumps(v, sort_keys=True)`: `", "` and `": "`, keys sorted, ASCII escapes.
pub const PYTHON_SORTED: CompactStyle =
    CompactStyle { item_sep: ", ", key_sep: ": ", sort_keys: true, string: write_str, float: float_repr };

/// Writes `v` on one line in `style`.
pub fn to_compact(v: &Value, style: &CompactStyle) -> String {
    let mut out = String::new();
    write_compact(&mut out, v, style);
    out
}

/// Serializes like Python's `json.dumps(v, sort_keys=True)` (the checkpoint's config hash).
pub fn to_string_sorted_compact(v: &Value) -> String {
    to_compact(v, &PYTHON_SORTED)
}

fn write_compact(out: &mut String, v: &Value, style: &CompactStyle) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n, style.float),
        Value::String(s) => write_string(out, s, style.string),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_sep);
                }
                write_compact(out, item, style);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_sep);
                }
                (style.string)(out, k);
                out.push_str(style.key_sep);
                write_compact(out, item, style);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_under_keys_come_with_their_paths() {
        let doc = br#"{"a": {"t": 1, "x": {"t": [2]}}, "runs": [{"t": null}, {"u": 3}], "t": {"t": "s"}, "b": NaN}"#;
        let got = scalars_under(doc, &["t"]).expect("parses");
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/a/t", "/runs/0/t", "/t/t"], "a list under a key is searched, not recorded");
        assert_eq!(got[0].1, serde_json::json!(1));
        assert_eq!(got[2].1, serde_json::json!("s"));
        assert!(scalars_under(b"{", &["t"]).is_err());
    }

    #[test]
    fn a_spliced_rendering_is_the_whole_rendering() {
        let part = |n: i64| serde_json::json!({"id": n, "runs": [{"s": 0.5, "t": "\u{e9}\n"}, {}], "empty": [], "m": {"k": [n]}});
        let whole = serde_json::json!({"a": 1, "tiers": {"T0": part(0), "T1": part(1)}, "z": [[part(2)], "x"]});
        let mut marked = whole.clone();
        marked["tiers"]["T0"] = Value::String(splice_marker("T0"));
        marked["tiers"]["T1"] = Value::String(splice_marker("T1"));
        marked["z"][0][0] = Value::String(splice_marker("deep"));
        let parts: Vec<(String, String)> =
            [("T1", part(1)), ("deep", part(2)), ("T0", part(0))].map(|(n, v)| (n.to_string(), to_string(&v))).into();
        let out = splice(&to_string(&marked), &parts).expect("the markers are there");
        assert_eq!(out, to_string(&whole));
        assert_eq!(splice(&out, &parts[..1]), None, "no marker left");
    }

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-05, "1e-05"),
            (1.5e-05, "1.5e-05"),
            (0.0001, "0.0001"),
            (4.56e-05, "4.56e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.9733333333333333, "0.9733333333333333"),
            (0.13038029999999998, "0.13038029999999998"),
            (35.340126, "35.340126"),
            (-2.5, "-2.5"),
            (1e-300, "1e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100.0"),
            (-233_891_771_783_429.63, "-233891771783429.62"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(*f), *want, "repr of {f:?}");
        }
    }

    #[test]
    fn dumps_like_python() {
        let v = parse(br#"{"a": 1, "b": [1.0, "\u00e9\ud83d\ude00/"], "c": {}, "d": [], "e": null}"#).expect("valid");
        assert_eq!(
            to_string(&v),
            "{\n  \"a\": 1,\n  \"b\": [\n    1.0,\n    \"\\u00e9\\ud83d\\ude00/\"\n  ],\n  \"c\": {},\n  \"d\": [],\n  \"e\": null\n}"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut s = String::new();
        write_str(&mut s, "a\u{1}\u{7f}\t\"\\");
        assert_eq!(s, r#""a\u0001\u007f\t\"\\""#);
    }

    #[test]
    fn nonfinite_tokens_round_trip() {
        let text = "{\n  \"x\": Infinity,\n  \"y\": -Infinity,\n  \"z\": NaN,\n  \"s\": \"Infinity NaN\"\n}";
        let v = parse(text.as_bytes()).expect("lenient");
        assert_eq!(as_f64(&v["x"]), Some(f64::INFINITY));
        assert_eq!(as_f64(&v["y"]), Some(f64::NEG_INFINITY));
        assert!(as_f64(&v["z"]).is_some_and(f64::is_nan));
        assert_eq!(v["s"], "Infinity NaN");
        assert_eq!(to_string(&v), text);
    }

    #[test]
    fn truncated_input_is_reported() {
        let e = parse(b"{\"a\": [1, 2").expect_err("truncated");
        assert!(e.message.contains("truncated"), "{e}");
    }

    #[test]
    fn sorted_compact_like_python() {
        let v = parse(br#"{"b": [1, 2.5, "\u00e9"], "a": {"y": null, "x": true}}"#).expect("valid");
        assert_eq!(to_string_sorted_compact(&v), r#"{"a": {"x": true, "y": null}, "b": [1, 2.5, "\u00e9"]}"#);
    }

    #[test]
    fn non_finite_floats_serialize_as_python_tokens() {
        assert_eq!(to_string(&float(f64::INFINITY)), "Infinity");
        assert_eq!(to_string(&float(2.0)), "2.0");
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;
    use std::path::Path;

    fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                json_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }

    /// Every JSON file the runner wrote re-serializes to the very same bytes.
    #[test]
    fn every_fixture_json_file_round_trips_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun");
        let mut files = Vec::new();
        json_files(&root, &mut files);
        assert!(files.len() >= 130, "fixture JSON files found: {}", files.len());
        for file in files {
            let bytes = std::fs::read(&file).expect("fixture readable");
            let value = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let text = to_string(&value);
            assert!(text.as_bytes() == bytes.as_slice(), "{} does not round-trip", file.display());
        }
    }
}

/// Streams `reader`'s bytes, decoded as UTF-8 with invalid sequences replaced (as
/// `String::from_utf8_lossy` does), into `sink` as the inside of a JSON string in darn's
/// ASCII-escaped form: what [`to_string`] writes for a string too large to hold.
pub fn stream_escaped(mut reader: impl std::io::Read, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut chunk = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    let mut out = String::new();
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let at_end = n == 0;
        pending.extend_from_slice(&chunk[..n]);
        out.clear();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&pending[start..]) {
                Ok(text) => {
                    write_escaped_inner(&mut out, text, true);
                    start = pending.len();
                    break;
                }
                Err(e) => {
                    let valid = start + e.valid_up_to();
                    // The valid prefix is UTF-8 by the check above.
                    write_escaped_inner(
                        &mut out,
                        std::str::from_utf8(&pending[start..valid]).unwrap_or_default(),
                        true,
                    );
                    match e.error_len() {
                        Some(bad) => {
                            write_escaped_inner(&mut out, "\u{fffd}", true);
                            start = valid + bad;
                        }
                        // A sequence cut by the chunk's end: finished by the next chunk.
                        None if !at_end => {
                            start = valid;
                            break;
                        }
                        None => {
                            write_escaped_inner(&mut out, "\u{fffd}", true);
                            start = pending.len();
                            break;
                        }
                    }
                }
            }
        }
        pending.drain(..start);
        sink(out.as_bytes());
        if at_end {
            return Ok(());
        }
    }
}

/// Random JSON values and damaged documents for the property tests of every reader.
#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;
    use serde_json::Value;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(super::float),
            prop_oneof![Just(0.0), Just(0.5), Just(1.0), Just(-0.0), Just(1e-05)].prop_map(super::float),
            "\\PC{0,12}".prop_map(Value::String),
            prop_oneof![Just("score"), Just("Infinity"), Just("NaN"), Just("{\"}"), Just("```json")]
                .prop_map(|s| Value::String(s.to_string())),
        ]
    }

    /// Any JSON value, nested a few levels, with keys the readers look for mixed in.
    pub fn value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            "[a-z_]{1,10}",
            prop_oneof![
                Just("score"),
                Just("passed"),
                Just("reasoning"),
                Just("type"),
                Just("result"),
                Just("is_error"),
                Just("usage"),
                Just("total_cost_usd"),
                Just("criteria_scores"),
                Just("runs_per_subtest"),
                Just("judge_models"),
            ]
            .prop_map(str::to_string),
        ];
        leaf().prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A document damaged the ways files are damaged: cut, a byte flipped, junk appended, a
    /// NUL or an invalid UTF-8 byte inserted.
    pub fn damaged(doc: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let len = doc.len();
        (0..5u8, 0..=len, any::<u8>()).prop_map(move |(how, at, byte)| {
            let mut d = doc.clone();
            let at = at.min(d.len());
            match how {
                0 => d.truncate(at),
                1 if !d.is_empty() => {
                    let i = at.min(d.len() - 1);
                    d[i] ^= byte | 1;
                }
                2 => d.extend_from_slice(b"}\n{\"x\": ["),
                3 => d.insert(at, 0),
                _ => d.insert(at, 0xff),
            }
            d
        })
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// What darn writes, darn reads back as the same value, and writes again as the same bytes.
        #[test]
        fn written_json_reads_back(v in arb::value()) {
            let text = to_string(&v);
            let back = parse(text.as_bytes());
            prop_assert!(back.is_ok(), "{text}");
            let back = back.unwrap_or(Value::Null);
            prop_assert_eq!(to_string(&back), text);
        }

        /// Any bytes at all: an error with a position, never a panic.
        #[test]
        fn any_bytes_parse_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = parse(&bytes) {
                prop_assert!(!e.message.is_empty());
            }
        }

        /// A damaged document is read or refused, never misread as a panic.
        #[test]
        fn damaged_documents_parse_or_fail(
            (doc, bad) in arb::value().prop_flat_map(|v| {
                let doc = to_string(&v).into_bytes();
                (Just(doc.clone()), arb::damaged(doc))
            })
        ) {
            match parse(&bad) {
                Ok(v) => { let _ = to_string(&v); }
                Err(e) => prop_assert!(!e.message.is_empty() || bad == doc),
            }
        }
    }

    proptest! {
        /// A string streamed in chunks is escaped exactly as the whole string is.
        #[test]
        fn streamed_strings_escape_like_whole_ones(bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200_000),
            "\\PC{15000,40000}".prop_map(String::into_bytes),
            ("\\PC{15000,40000}", 0..60_000usize).prop_map(|(s, at)| {
                let mut b = s.into_bytes();
                let at = at.min(b.len());
                b.insert(at, 0xe2);
                b
            }),
        ]) {
            let mut streamed = Vec::new();
            prop_assert!(stream_escaped(bytes.as_slice(), |b| streamed.extend_from_slice(b)).is_ok());
            let whole = to_string(&Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            prop_assert_eq!(format!("\"{}\"", String::from_utf8_lossy(&streamed)), whole);
        }
    }

    proptest! {
        /// A pruned read equals a whole read with those keys removed afterwards.
        #[test]
        fn pruned_reads_drop_only_the_skipped_keys(v in arb::value()) {
            let text = to_string(&v);
            let mut want = parse(text.as_bytes()).unwrap_or(Value::Null);
            remove_key(&mut want, "score");
            let got = parse_pruned(text.as_bytes(), &["score"]);
            prop_assert!(got.is_ok());
            prop_assert_eq!(to_string(&got.unwrap_or(Value::Null)), to_string(&want));
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
        let deep_inf = format!("{}Infinity{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep_inf.as_bytes()).is_err());
        assert!(parse_pruned(deep.as_bytes(), &["runs"]).is_err());
    }
}
