//! **Verify-only**: the form listing signatures covered before RFC 8785 was adopted.

use serde_json::Value;

/// **Verify-only.** The bytes a listing signature covered before this platform adopted
/// RFC 8785: members sorted by UTF-8 bytes, strings and numbers as serde_json writes them
/// (`84.0` stays `84.0`, `1e21` is `1e21`). Stored listings signed in that form keep verifying
/// through this function; nothing may be signed with it. Feed it a value from
/// [`parse_strict`](super::parse_strict)
/// so integers and doubles keep the form they were written in.
pub fn legacy_form_for_verification_only(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_legacy(value, &mut out);
    out
}

fn write_legacy(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                out.push(b':');
                write_legacy(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_legacy(item, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}
