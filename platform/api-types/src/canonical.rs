//! Canonical JSON: the exact bytes a signature covers.
//!
//! The form follows RFC 8785 (JCS) where our documents need it: object keys sorted by their UTF-8
//! bytes at every depth, no insignificant whitespace, strings escaped as serde_json escapes them,
//! numbers as serde_json prints them (integers as digits, floats in shortest round-trip form).
//! Absent optional fields are left out, never written as `null` (the types here use
//! `skip_serializing_if`). Keys are sorted here explicitly, so the result does not depend on
//! whether some crate in the build enabled serde_json's `preserve_order`.

use serde::Serialize;
use serde_json::Value;

/// The canonical JSON bytes of `value`.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let tree = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(512);
    write_value(&tree, &mut out);
    Ok(out)
}

/// The canonical JSON text of `value`.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let bytes = to_vec(value)?;
    Ok(String::from_utf8(bytes).expect("serde_json writes UTF-8"))
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        serde_json::to_string(s)
            .expect("a string always serialises")
            .as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_sorted_at_every_depth_without_whitespace() {
        let v = serde_json::json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "c": "é\n"}});
        assert_eq!(
            to_string(&v).unwrap(),
            r#"{"a":{"c":"é\n","z":[3,{"x":null,"y":true}]},"b":1}"#
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1.0e12f64..1.0e12).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Parsing canonical text gives the same document back, and canonicalising it again gives
        /// the same bytes: the form is a fixed point, so signer and verifier always agree.
        #[test]
        fn canonical_form_round_trips(v in arb_json()) {
            let text = to_string(&v).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_string(&back).unwrap(), text);
        }
    }
}
