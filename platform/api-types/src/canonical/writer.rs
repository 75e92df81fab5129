//! Writing a JSON value in canonical form: members sorted by UTF-16 code units, strings
//! escaped as `JSON.stringify` escapes them, numbers refused when a double cannot hold them.

use serde_json::{Number, Value};

use super::number::format_number;
use super::{CanonicalError, MAX_DEPTH, MAX_EXACT_INTEGER, Path, Segment};

pub(super) fn write_value(
    value: &Value,
    out: &mut String,
    path: &mut Path,
) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number_text(n, path)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if path.0.len() >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep { path: path.text() });
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                path.0.push(Segment::Index(i));
                write_value(item, out, path)?;
                path.0.pop();
            }
            out.push(']');
        }
        Value::Object(map) => {
            if path.0.len() >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep { path: path.text() });
            }
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                path.0.push(Segment::Member(name.clone()));
                write_value(item, out, path)?;
                path.0.pop();
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A serde_json number as a double in ECMAScript form; an integer beyond ±2^53 is refused.
fn number_text(n: &Number, path: &Path) -> Result<String, CanonicalError> {
    let refuse = || CanonicalError::Number {
        path: path.text(),
        literal: n.to_string(),
    };
    let value = if let Some(u) = n.as_u64() {
        if u > MAX_EXACT_INTEGER {
            return Err(refuse());
        }
        u as f64
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_EXACT_INTEGER {
            return Err(refuse());
        }
        i as f64
    } else {
        let f = n.as_f64().ok_or_else(refuse)?;
        // ECMAScript writes these as integers beyond ±2^53, which a strict reader refuses.
        if f.abs() > MAX_EXACT_INTEGER as f64 && f.abs() < 1e21 {
            return Err(refuse());
        }
        f
    };
    format_number(value).map_err(|_| refuse())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
