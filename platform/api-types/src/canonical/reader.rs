//! The strict reader of received documents: RFC 8259 JSON with no member named twice, no lone
//! surrogate, no number a double cannot hold and no nesting deeper than [`MAX_DEPTH`].

use serde_json::{Map, Number, Value};

use super::{CanonicalError, MAX_DEPTH, MAX_EXACT_INTEGER, Path, Segment};

/// Parses `text` as one JSON value (RFC 8259), strictly: a member named twice in one object, a
/// lone UTF-16 surrogate, an integer beyond ±2^53, a number too large for a double, nesting
/// deeper than [`MAX_DEPTH`], or anything after the value is refused, naming where.
///
/// Integers come back as integer numbers and the rest as doubles, so
/// [`legacy_form_for_verification_only`](super::legacy_form_for_verification_only) can still
/// tell `84` from `84.0`.
pub fn parse_strict(text: &str) -> Result<Value, CanonicalError> {
    let mut parser = Parser {
        text: text.as_bytes(),
        pos: 0,
        path: Path::default(),
    };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.text.len() {
        return Err(parser.syntax("unexpected text after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    path: Path,
}

impl Parser<'_> {
    fn syntax(&self, message: impl Into<String>) -> CanonicalError {
        CanonicalError::Syntax {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), CanonicalError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(format!("expected '{}'", byte as char)))
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, CanonicalError> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expected a JSON value"))
        }
    }

    fn value(&mut self) -> Result<Value, CanonicalError> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("expected a JSON value")),
            None => Err(self.syntax("the text ends before the value does")),
        }
    }

    fn nest(&self) -> Result<(), CanonicalError> {
        if self.path.0.len() >= MAX_DEPTH {
            Err(CanonicalError::TooDeep {
                path: self.path.text(),
            })
        } else {
            Ok(())
        }
    }

    fn object(&mut self) -> Result<Value, CanonicalError> {
        self.nest()?;
        self.expect(b'{')?;
        let mut map = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a member name in double quotes"));
            }
            let name = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            if map.contains_key(&name) {
                return Err(CanonicalError::DuplicateMember {
                    path: self.path.text(),
                    name,
                });
            }
            self.path.0.push(Segment::Member(name.clone()));
            let item = self.value()?;
            self.path.0.pop();
            map.insert(name, item);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, CanonicalError> {
        self.nest()?;
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            self.path.0.push(Segment::Index(items.len()));
            let item = self.value()?;
            self.path.0.pop();
            items.push(item);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, CanonicalError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("a \\u escape needs four hex digits"))?;
        let mut code = 0;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax("a \\u escape needs four hex digits"))?;
            code = code * 16 + v;
        }
        self.pos += 4;
        Ok(code)
    }

    fn string(&mut self) -> Result<String, CanonicalError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str, and the run stops only at ASCII bytes: a whole UTF-8 slice.
            out.push_str(
                std::str::from_utf8(&self.text[start..self.pos]).expect("a &str slice at ASCII"),
            );
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| self.syntax("the text ends inside a string"))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.text[self.pos..].starts_with(b"\\u") {
                                    return Err(
                                        self.syntax("a lone UTF-16 surrogate in a \\u escape")
                                    );
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(
                                        self.syntax("a lone UTF-16 surrogate in a \\u escape")
                                    );
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&first) {
                                return Err(self.syntax("a lone UTF-16 surrogate in a \\u escape"));
                            } else {
                                first
                            };
                            out.push(char::from_u32(code).expect("a checked scalar value"));
                        }
                        _ => return Err(self.syntax("an unknown escape in a string")),
                    }
                }
                Some(_) => {
                    return Err(self.syntax("a control character must be escaped in a string"));
                }
                None => return Err(self.syntax("the text ends inside a string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, CanonicalError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("a number needs digits")),
        }
        let int_digits = self.pos - int_start;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.syntax("a decimal point must be followed by digits"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("an exponent needs digits"));
            }
        }
        let literal = std::str::from_utf8(&self.text[start..self.pos]).expect("ASCII digits");
        let refuse = || CanonicalError::Number {
            path: self.path.text(),
            literal: literal.to_owned(),
        };
        if integer {
            // 2^53 has 16 digits: a longer integer is out of range whatever its digits.
            if int_digits > 16 {
                return Err(refuse());
            }
            let magnitude: u64 = literal
                .trim_start_matches('-')
                .parse()
                .map_err(|_| refuse())?;
            if magnitude > MAX_EXACT_INTEGER {
                return Err(refuse());
            }
            return Ok(if negative {
                Value::from(-(magnitude as i64))
            } else {
                Value::from(magnitude)
            });
        }
        // Rust's float parsing rounds correctly, as ECMAScript's does.
        let value: f64 = literal.parse().map_err(|_| refuse())?;
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(refuse)
    }
}
