//! Canonical JSON: the exact bytes a signature covers, by RFC 8785 (the JSON Canonicalization
//! Scheme, JCS), so that any implementation in any language produces the same bytes.
//!
//! # The rules (RFC 8785 §3.2)
//!
//! * no whitespace between tokens;
//! * object members sorted by their names compared as arrays of UTF-16 code units (not by
//!   UTF-8 bytes and not by locale), at every depth; array order is kept;
//! * strings written as ECMAScript's `JSON.stringify` writes them: `"` and `\` escaped, the
//!   control characters U+0008, U+0009, U+000A, U+000C, U+000D as `\b \t \n \f \r`, every other
//!   control character below U+0020 as `\u00xx` (lowercase hex), everything else (non-ASCII,
//!   `/`, U+007F) as itself in UTF-8;
//! * numbers as IEEE 754 doubles written as ECMAScript's `Number.prototype.toString` writes them:
//!   the shortest digits that read back as the same double, `84.0` as `84`, `1e21` as `1e+21`,
//!   `1e-7` as `1e-7`, `0.000001` as `0.000001`, `-0` as `0`;
//! * `true`, `false`, `null` as themselves.
//!
//! # What is refused
//!
//! * a number a double cannot hold: an integer beyond ±2^53 (RFC 7493 I-JSON; it would be
//!   silently rounded, so a signer and a verifier could disagree on its value) or a number
//!   too large for a double (it would become infinite); write such values as strings;
//! * when parsing a document to verify ([`parse_strict`]): an object naming the same member
//!   twice (parsers disagree on which one counts, so a signature over one reading could be
//!   shown with the other), lone UTF-16 surrogates, and anything that is not RFC 8259 JSON.
//!
//! [`to_vec`] canonicalises a Rust value (what a signer does); [`canonicalize_text`] parses
//! received text strictly and canonicalises it (what a verifier does).
//! [`legacy_form_for_verification_only`] reproduces the form signed before RFC 8785 was adopted,
//! only so that stored signatures made then can still be checked.
//!
//! The parts: `number` writes numbers as ECMAScript does, `writer` writes a value in
//! canonical form, `reader` parses received text strictly ([`parse_strict`]) and `legacy` keeps
//! the pre-RFC 8785 form for verification only.

use serde::Serialize;
use serde_json::Value;

mod legacy;
mod number;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub use legacy::legacy_form_for_verification_only;
pub use number::format_number;
pub use reader::parse_strict;
use writer::write_value;

/// The largest integer magnitude a double holds exactly together with all its neighbours (2^53).
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// How deeply arrays and objects may nest in a document to be verified.
pub const MAX_DEPTH: usize = 64;

/// Why a value has no canonical form, or a text is not a document that can be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// The text is not JSON (RFC 8259); `offset` is the byte where reading stopped.
    #[error("not valid JSON at byte {offset}: {message}")]
    Syntax {
        /// Byte offset in the text.
        offset: usize,
        /// What was wrong there.
        message: String,
    },
    /// An object names the same member twice.
    #[error("the member {name:?} appears twice in one object; each member may appear once")]
    DuplicateMember {
        /// Where the object is (e.g. `Media[0]`; empty for the top level).
        path: String,
        /// The repeated name.
        name: String,
    },
    /// A number that an IEEE 754 double cannot hold.
    #[error(
        "the number {literal} cannot be held exactly by an IEEE 754 double (integers must lie within ±2^53, other numbers within the double range)"
    )]
    Number {
        /// Where the number is (e.g. `ListPrice`).
        path: String,
        /// The number as written (or as held).
        literal: String,
    },
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    #[error("the document nests deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Where the limit was reached.
        path: String,
    },
    /// The Rust value could not be turned into JSON (e.g. a map with non-string keys).
    #[error("the value cannot be written as JSON: {0}")]
    Serialize(String),
}

impl CanonicalError {
    /// The path of the offending part (`ListPrice`, `Media[2].MediaURL`), empty for the whole
    /// document or for a syntax error. The message ([`Display`](std::fmt::Display)) leaves the
    /// path to the caller, who knows what the document is called.
    pub fn path(&self) -> &str {
        match self {
            CanonicalError::DuplicateMember { path, .. }
            | CanonicalError::Number { path, .. }
            | CanonicalError::TooDeep { path } => path,
            CanonicalError::Syntax { .. } | CanonicalError::Serialize(_) => "",
        }
    }
}

/// The canonical (RFC 8785) bytes of `value`, serialised with serde.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let tree = serde_json::to_value(value).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
    canonicalize(&tree)
}

/// The canonical (RFC 8785) text of `value`, serialised with serde.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, CanonicalError> {
    let bytes = to_vec(value)?;
    Ok(String::from_utf8(bytes).expect("canonical JSON is UTF-8"))
}

/// The canonical (RFC 8785) bytes of a JSON value.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::with_capacity(512);
    let mut path = Path::default();
    write_value(value, &mut out, &mut path)?;
    Ok(out.into_bytes())
}

/// Parses `text` strictly ([`parse_strict`]) and returns its canonical bytes: what a signature
/// over the document `text` covers.
pub fn canonicalize_text(text: &str) -> Result<Vec<u8>, CanonicalError> {
    canonicalize(&parse_strict(text)?)
}

/// The SHA-256 of `bytes` as lowercase hex: how an error names the canonical bytes it verified,
/// so a signer can compare with what it signed.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Where in a document the writer or parser is, for error messages (`Media[0].MediaURL`).
#[derive(Debug, Default)]
struct Path(Vec<Segment>);

#[derive(Debug)]
enum Segment {
    Member(String),
    Index(usize),
}

impl Path {
    fn text(&self) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Member(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}
