//! Comparing an existing JSON file with what its rule expects, into typed findings: values are
//! compared as Python would load them (key order and number formatting do not matter).

use super::finding::{Difference, Finding, Malformed};
use crate::experiment::files::RunFile;
use serde_json::{Map, Value};

/// Value equality where numbers compare as floats (`1` equals `1.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A short rendering of a value for display.
pub fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => crate::py::json::to_compact(other, &crate::py::json::PYTHON_SORTED),
    };
    if s.chars().count() > 60 { format!("{}…", s.chars().take(57).collect::<String>()) } else { s }
}

/// Two values rendered around their first difference, so long strings that share a prefix
/// (paths, reasoning) show where they differ.
pub fn difference(field: &str, have: &Value, want: &Value, source: Option<RunFile>) -> Difference {
    let (recorded, expected) = match (have, want) {
        (Value::String(a), Value::String(b)) => {
            let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let window = |s: &str| {
                let start = common.saturating_sub(12);
                let tail: String = s.chars().skip(start).take(48).collect();
                let more = s.chars().count() > start + 48;
                format!("{:?}", format!("{}{tail}{}", if start > 0 { "…" } else { "" }, if more { "…" } else { "" }))
            };
            (window(a), window(b))
        }
        _ => (short(have), short(want)),
    };
    Difference { field: field.into(), recorded: recorded.into(), expected: expected.into(), source }
}

/// The object of a JSON file, or the finding that it is not one.
pub fn object(file: RunFile, v: &Value) -> Result<&Map<String, Value>, Finding> {
    v.as_object().ok_or(Finding::Malformed(file, Malformed::NotObject))
}

/// Compares every key of `want` with `have`: a missing key makes the file malformed, the first
/// differing value is reported with where the expected value comes from.
pub fn against(file: RunFile, have: &Value, want: &Value, source: Option<RunFile>) -> Finding {
    let have_obj = match object(file, have) {
        Ok(o) => o,
        Err(f) => return f,
    };
    let Some(want_obj) = want.as_object() else { return Finding::Fresh };
    for (key, value) in want_obj {
        match have_obj.get(key) {
            None => return Finding::Malformed(file, Malformed::MissingKey(key.as_str().into())),
            Some(v) if !same(v, value) => return Finding::Differs(file, Box::new(difference(key, v, value, source))),
            Some(_) => {}
        }
    }
    Finding::Fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_as_floats_and_strings_show_where_they_differ() {
        assert!(same(&json!({"a": 1}), &json!({"a": 1.0})));
        assert!(!same(&json!([1, 2]), &json!([1])));
        let d = difference(
            "p",
            &json!("/a/very/long/common/prefix/then-x"),
            &json!("/a/very/long/common/prefix/then-y"),
            None,
        );
        assert!(d.recorded.contains("then-x") && d.expected.contains("then-y"), "{d:?}");
        let f = RunFile::of("run_result.json").expect("vocabulary");
        assert!(matches!(
            against(f, &json!({"a": 1}), &json!({"a": 1, "b": 2}), None),
            Finding::Malformed(_, Malformed::MissingKey(_))
        ));
        assert!(matches!(against(f, &json!({"a": 1}), &json!({"a": 2}), None), Finding::Differs(..)));
        assert_eq!(against(f, &json!({"a": 1, "x": 0}), &json!({"a": 1}), None), Finding::Fresh);
    }
}
