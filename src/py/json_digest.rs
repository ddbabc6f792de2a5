//! A digest of what a JSON document holds, made without holding it: two documents get the same
//! digest exactly when [`json::parse`](super::json::parse) gives equal values (objects compare
//! as maps whatever their key order, numbers as `serde_json` holds them, formatting never
//! matters). Comparing a 1.7 GB aggregate with its previous version this way takes a digest per
//! value on the way, not two parsed trees.

use super::json::{ParseError, standard};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;

type Digest = [u8; 32];

/// The digest of `bytes`, leaving out the top-level keys in `skip` (timestamps that a rebuild
/// always changes).
pub fn semantic_digest(bytes: &[u8], skip: &[&str]) -> Result<Digest, ParseError> {
    let bytes = standard(bytes);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let d = Walk { skip }.deserialize(&mut de).map_err(|e| ParseError::from_serde(&e))?;
    de.end().map_err(|e| ParseError::from_serde(&e))?;
    Ok(d)
}

/// Whether two documents hold the same value once the top-level keys in `skip` are left out;
/// a document that does not parse equals nothing.
pub fn same_value(a: &[u8], b: &[u8], skip: &[&str]) -> bool {
    match (semantic_digest(a, skip), semantic_digest(b, skip)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// One value's digest: a tag for its kind, then its content. Containers hash their children's
/// digests; an object's are sorted by key first.
fn leaf(tag: u8, bytes: &[u8]) -> Digest {
    *blake3::Hasher::new().update(&[tag]).update(bytes).finalize().as_bytes()
}

#[derive(Clone, Copy)]
struct Walk<'s> {
    /// Keys left out of this object (only the top level has any).
    skip: &'s [&'s str],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Digest;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Digest, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Digest;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Digest, E> {
        Ok(leaf(b'n', &[]))
    }
    fn visit_none<E>(self) -> Result<Digest, E> {
        Ok(leaf(b'n', &[]))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Digest, E> {
        Ok(leaf(b'b', &[u8::from(v)]))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Digest, E> {
        Ok(leaf(b'u', &v.to_le_bytes()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Digest, E> {
        // A `Value` holds a non-negative integer as unsigned, however it was read.
        match u64::try_from(v) {
            Ok(u) => Ok(leaf(b'u', &u.to_le_bytes())),
            Err(_) => Ok(leaf(b'i', &v.to_le_bytes())),
        }
    }
    fn visit_f64<E>(self, v: f64) -> Result<Digest, E> {
        // Floats compare with `==`: 0.0 and -0.0 are one value.
        let v = if v == 0.0 { 0.0 } else { v };
        Ok(leaf(b'f', &v.to_bits().to_le_bytes()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Digest, E> {
        Ok(leaf(b's', v.as_bytes()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Digest, A::Error> {
        let mut h = blake3::Hasher::new();
        h.update(b"a");
        while let Some(d) = seq.next_element_seed(Walk { skip: &[] })? {
            h.update(&d);
        }
        Ok(*h.finalize().as_bytes())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Digest, A::Error> {
        // By key, so order does not matter and a repeated key keeps its last value, as in a `Value`.
        let mut entries: BTreeMap<Digest, Digest> = BTreeMap::new();
        while let Some(key) = map.next_key_seed(Key { skip: self.skip })? {
            match key {
                Some(k) => {
                    let v = map.next_value_seed(Walk { skip: &[] })?;
                    entries.insert(k, v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let mut h = blake3::Hasher::new();
        h.update(b"o");
        for (k, v) in &entries {
            h.update(k).update(v);
        }
        Ok(*h.finalize().as_bytes())
    }
}

/// An object's key: its digest, or `None` when it is left out.
struct Key<'s> {
    skip: &'s [&'s str],
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<Digest>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Digest>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<Digest>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<Digest>, E> {
        Ok((!self.skip.contains(&v)).then(|| leaf(b's', v.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::py::json;
    use proptest::prelude::*;

    const STAMPS: [&str; 1] = ["generated_at"];

    #[test]
    fn formatting_and_key_order_do_not_matter_and_values_do() {
        let a = br#"{"a": 1, "b": [1.5, "x", null, true], "generated_at": "t1"}"#;
        let b = b"{\"b\":[1.5,\"x\",null,true],\n\"generated_at\":\"t2\",\"a\":1}";
        assert!(same_value(a, b, &STAMPS));
        assert!(!same_value(a, b, &[]), "a stamp counts unless left out");
        assert!(!same_value(a, br#"{"a": 1.0, "b": [1.5, "x", null, true]}"#, &STAMPS), "1 is not 1.0 in a Value");
        assert!(!same_value(a, br#"{"a": 1, "b": ["x", 1.5, null, true]}"#, &STAMPS), "arrays keep order");
        assert!(!same_value(a, br#"{"a": 1, "b": [1.5, "x", null, true], "c": {}}"#, &STAMPS));
        assert!(same_value(br#"{"x": {"generated_at": 1}}"#, br#"{"x": {"generated_at": 1}}"#, &STAMPS));
        assert!(
            !same_value(br#"{"x": {"generated_at": 1}}"#, br#"{"x": {"generated_at": 2}}"#, &STAMPS),
            "only top-level keys are left out"
        );
        assert!(same_value(b"[NaN, Infinity]", b"[NaN,Infinity]", &[]), "Python's non-finite tokens");
        assert!(!same_value(b"{\"a\": 1", b"{\"a\": 1", &[]), "a truncated document equals nothing");
    }

    proptest! {
        #[test]
        fn equal_digests_exactly_when_values_are_equal(a in json::arb::value(), b in json::arb::value()) {
            let (x, y) = (json::to_string(&a), json::to_string(&b));
            let same = json::parse(x.as_bytes()).ok() == json::parse(y.as_bytes()).ok();
            prop_assert_eq!(same_value(x.as_bytes(), y.as_bytes(), &[]), same);
            let compact = json::to_compact(&a, &json::PYTHON_SORTED);
            prop_assert!(same_value(x.as_bytes(), compact.as_bytes(), &[]), "{} vs {}", x, compact);
        }
    }
}
