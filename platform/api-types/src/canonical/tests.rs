//! Tests of canonical JSON: RFC 8785 examples, numbers, strict reading, legacy form and
//! property tests.

use super::*;
use proptest::prelude::*;

fn jcs(text: &str) -> String {
    String::from_utf8(canonicalize_text(text).unwrap()).unwrap()
}

#[test]
fn the_reference_vectors_canonicalise_exactly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/jcs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.join("input")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let input = std::fs::read_to_string(&path).unwrap();
        let expected = std::fs::read(dir.join("output").join(&name)).unwrap();
        let got = canonicalize_text(&input).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{name:?}"
        );
        seen += 1;
    }
    assert_eq!(seen, 6, "every reference vector was checked");
}

#[test]
fn the_rfc_example_of_section_3_2_2() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    assert_eq!(
        jcs(input),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn members_sort_by_utf16_code_units_not_utf8_bytes() {
    // U+10000 is D800 DC00 in UTF-16, before U+FFFF; in UTF-8 it comes after.
    let v = serde_json::json!({"\u{ffff}": 1, "\u{10000}": 2, "a": 3, "B": 4});
    assert_eq!(
        to_string(&v).unwrap(),
        "{\"B\":4,\"a\":3,\"\u{10000}\":2,\"\u{ffff}\":1}"
    );
}

#[test]
fn numbers_are_written_as_ecmascript_writes_them() {
    for (value, text) in [
        (84.0, "84"),
        (84.5, "84.5"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (-1.25e22, "-1.25e+22"),
        (0.1 + 0.2, "0.30000000000000004"),
        (9007199254740992.0, "9007199254740992"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
    ] {
        assert_eq!(format_number(value).unwrap(), text, "{value:e}");
    }
    assert!(format_number(f64::NAN).is_err());
    assert!(format_number(f64::INFINITY).is_err());
}

/// The IEEE 754 values of the reference `es6testfile100m.txt`, in order (the algorithm of
/// `testdata/numgen.go` in the reference repository).
fn reference_doubles() -> impl Iterator<Item = f64> {
    const STATIC: [u64; 168] = [
        0x0000000000000000,
        0x8000000000000000,
        0x0000000000000001,
        0x8000000000000001,
        0xc46696695dbd1cc3,
        0xc43211ede4974a35,
        0xc3fce97ca0f21056,
        0xc3c7213080c1a6ac,
        0xc39280f39a348556,
        0xc35d9b1f5d20d557,
        0xc327af4c4a80aaac,
        0xc2f2f2a36ecd5556,
        0xc2be51057e155558,
        0xc28840d131aaaaac,
        0xc253670dc1555557,
        0xc21f0b4935555557,
        0xc1e8d5d42aaaaaac,
        0xc1b3de4355555556,
        0xc17fca0555555556,
        0xc1496e6aaaaaaaab,
        0xc114585555555555,
        0xc0e046aaaaaaaaab,
        0xc0aa0aaaaaaaaaaa,
        0xc074d55555555555,
        0xc040aaaaaaaaaaab,
        0xc00aaaaaaaaaaaab,
        0xbfd5555555555555,
        0xbfa1111111111111,
        0xbf6b4e81b4e81b4f,
        0xbf35d867c3ece2a5,
        0xbf0179ec9cbd821e,
        0xbecbf647612f3696,
        0xbe965e9f80f29212,
        0xbe61e54c672874db,
        0xbe2ca213d840baf8,
        0xbdf6e80fe033c8c6,
        0xbdc2533fe68fd3d2,
        0xbd8d51ffd74c861c,
        0xbd5774ccac3d3817,
        0xbd22c3d6f030f9ac,
        0xbcee0624b3818f79,
        0xbcb804ea293472c7,
        0xbc833721ba905bd3,
        0xbc4ebe9c5db3c61e,
        0xbc18987d17c304e5,
        0xbbe3ad30dfcf371d,
        0xbbaf7b816618582f,
        0xbb792f9ab81379bf,
        0xbb442615600f9499,
        0xbb101e77800c76e1,
        0xbad9ca58cce0be35,
        0xbaa4a1e0a3e6fe90,
        0xba708180831f320d,
        0xba3a68cd9e985016,
        0x446696695dbd1cc3,
        0x443211ede4974a35,
        0x43fce97ca0f21056,
        0x43c7213080c1a6ac,
        0x439280f39a348556,
        0x435d9b1f5d20d557,
        0x4327af4c4a80aaac,
        0x42f2f2a36ecd5556,
        0x42be51057e155558,
        0x428840d131aaaaac,
        0x4253670dc1555557,
        0x421f0b4935555557,
        0x41e8d5d42aaaaaac,
        0x41b3de4355555556,
        0x417fca0555555556,
        0x41496e6aaaaaaaab,
        0x4114585555555555,
        0x40e046aaaaaaaaab,
        0x40aa0aaaaaaaaaaa,
        0x4074d55555555555,
        0x4040aaaaaaaaaaab,
        0x400aaaaaaaaaaaab,
        0x3fd5555555555555,
        0x3fa1111111111111,
        0x3f6b4e81b4e81b4f,
        0x3f35d867c3ece2a5,
        0x3f0179ec9cbd821e,
        0x3ecbf647612f3696,
        0x3e965e9f80f29212,
        0x3e61e54c672874db,
        0x3e2ca213d840baf8,
        0x3df6e80fe033c8c6,
        0x3dc2533fe68fd3d2,
        0x3d8d51ffd74c861c,
        0x3d5774ccac3d3817,
        0x3d22c3d6f030f9ac,
        0x3cee0624b3818f79,
        0x3cb804ea293472c7,
        0x3c833721ba905bd3,
        0x3c4ebe9c5db3c61e,
        0x3c18987d17c304e5,
        0x3be3ad30dfcf371d,
        0x3baf7b816618582f,
        0x3b792f9ab81379bf,
        0x3b442615600f9499,
        0x3b101e77800c76e1,
        0x3ad9ca58cce0be35,
        0x3aa4a1e0a3e6fe90,
        0x3a708180831f320d,
        0x3a3a68cd9e985016,
        0x4024000000000000,
        0x4014000000000000,
        0x3fe0000000000000,
        0x3fa999999999999a,
        0x3f747ae147ae147b,
        0x3f40624dd2f1a9fc,
        0x3f0a36e2eb1c432d,
        0x3ed4f8b588e368f1,
        0x3ea0c6f7a0b5ed8d,
        0x3e6ad7f29abcaf48,
        0x3e35798ee2308c3a,
        0x3ed539223589fa95,
        0x3ed4ff26cd5a7781,
        0x3ed4f95a762283ff,
        0x3ed4f8c60703520c,
        0x3ed4f8b72f19cd0d,
        0x3ed4f8b5b31c0c8d,
        0x3ed4f8b58d1c461a,
        0x3ed4f8b5894f7f0e,
        0x3ed4f8b588ee37f3,
        0x3ed4f8b588e47da4,
        0x3ed4f8b588e3849c,
        0x3ed4f8b588e36bb5,
        0x3ed4f8b588e36937,
        0x3ed4f8b588e368f8,
        0x3ed4f8b588e368f1,
        0x3ff0000000000000,
        0xbff0000000000000,
        0xbfeffffffffffffa,
        0xbfeffffffffffffb,
        0x3feffffffffffffa,
        0x3feffffffffffffb,
        0x3feffffffffffffc,
        0x3feffffffffffffe,
        0xbfefffffffffffff,
        0xbfefffffffffffff,
        0x3fefffffffffffff,
        0x3fefffffffffffff,
        0x3fd3333333333332,
        0x3fd3333333333333,
        0x3fd3333333333334,
        0x0010000000000000,
        0x000ffffffffffffd,
        0x000fffffffffffff,
        0x7fefffffffffffff,
        0xffefffffffffffff,
        0x4340000000000000,
        0xc340000000000000,
        0x4430000000000000,
        0x44b52d02c7e14af5,
        0x44b52d02c7e14af6,
        0x44b52d02c7e14af7,
        0x444b1ae4d6e2ef4e,
        0x444b1ae4d6e2ef4f,
        0x444b1ae4d6e2ef50,
        0x3eb0c6f7a0b5ed8c,
        0x3eb0c6f7a0b5ed8d,
        0x41b3de4355555553,
        0x41b3de4355555554,
        0x41b3de4355555555,
        0x41b3de4355555556,
        0x41b3de4355555557,
        0xbecbf647612f3696,
        0x43143ff3c1cb0959,
    ];
    let serial = (0..2000u64).map(|i| f64::from_bits(0x0010_0000_0000_0000 + i));
    let mut block = [0u8; 32];
    let mut pending: Vec<f64> = Vec::new();
    let random = std::iter::from_fn(move || {
        loop {
            if pending.is_empty() {
                let digest = ring::digest::digest(&ring::digest::SHA256, &block);
                block.copy_from_slice(digest.as_ref());
                pending = block
                    .chunks_exact(8)
                    .rev()
                    .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().unwrap())))
                    .collect();
            }
            let f = pending.pop().unwrap();
            if f != 0.0 && f.is_finite() {
                return Some(f);
            }
        }
    });
    STATIC
        .into_iter()
        .map(f64::from_bits)
        .chain(serial)
        .chain(random)
}

/// The first `lines` lines of es6testfile100m.txt ("hex-ieee,expected\n") as we write them.
fn reference_file(lines: usize) -> Vec<u8> {
    let mut file = Vec::with_capacity(lines * 41);
    for f in reference_doubles().take(lines) {
        file.extend_from_slice(format!("{:x},", f.to_bits()).as_bytes());
        file.extend_from_slice(format_number(f).unwrap().as_bytes());
        file.push(b'\n');
    }
    file
}

#[test]
fn numbers_match_the_reference_file_of_the_rfc_authors() {
    // Size and SHA-256 of the first 100,000 lines, as published in the reference
    // repository's testdata/README.md.
    let file = reference_file(100_000);
    assert_eq!(file.len(), 4_031_728, "the reference file's size");
    assert_eq!(
        sha256_hex(&file),
        "22776e6d4b49fa294a0d0f349268e5c28808fe7e0cb2bcbe28f63894e494d4c7"
    );
}

/// Ten times as many (about 10 s in a debug build):
/// `cargo test -p api-types --release -- --ignored numbers_match_a_million`.
#[test]
#[ignore = "slow; the 100,000-line check runs always"]
fn numbers_match_a_million_lines_of_the_reference_file() {
    let file = reference_file(1_000_000);
    assert_eq!(file.len(), 40_357_417);
    assert_eq!(
        sha256_hex(&file),
        "49415fee2c56c77864931bd3624faad425c3c577d6d74e89a83bc725506dad16"
    );
}

#[test]
fn integers_beyond_two_to_the_53_are_refused_with_where_they_are() {
    assert_eq!(
        jcs("[9007199254740992, -9007199254740992]"),
        "[9007199254740992,-9007199254740992]"
    );
    for text in [
        r#"{"ListPrice": 9007199254740993}"#,
        r#"{"ListPrice": -9007199254740993}"#,
        r#"{"ListPrice": 123456789012345678901234567890}"#,
    ] {
        let err = canonicalize_text(text).unwrap_err();
        assert!(
            matches!(err, CanonicalError::Number { .. }),
            "{text}: {err}"
        );
        assert_eq!(err.path(), "ListPrice");
        assert!(err.to_string().contains("±2^53"), "{err}");
    }
    let err = canonicalize_text(r#"{"Media": [{"x": 1e400}]}"#).unwrap_err();
    assert_eq!(err.path(), "Media[0].x", "{err}");
    // Serialising a Rust value: the same rule.
    assert!(to_vec(&serde_json::json!({"n": u64::MAX})).is_err());
    assert!(to_vec(&serde_json::json!({"n": i64::MIN})).is_err());
    assert_eq!(
        to_string(&serde_json::json!({"n": 1u64 << 53})).unwrap(),
        r#"{"n":9007199254740992}"#
    );
    // A double that ECMAScript would write as such an integer: refused too, so whatever we
    // write, a strict reader reads back. Written with an exponent, 1e21 and up are fine.
    for f in [1.9084388250888268e16, 1e20, -123456789012345680000.0] {
        assert!(to_vec(&serde_json::json!([f])).is_err(), "{f}");
    }
    assert_eq!(
        to_string(&serde_json::json!([1e21, 9007199254740992.0])).unwrap(),
        "[1e+21,9007199254740992]"
    );
    assert!(canonicalize_text("[1e20]").is_err());
}

#[test]
fn duplicate_members_are_refused_where_serde_json_keeps_the_last() {
    let text = r#"{"City": "Lisbon", "Media": [{"MediaURL": "a", "MediaURL": "b"}]}"#;
    assert!(
        serde_json::from_str::<Value>(text).is_ok(),
        "serde_json alone would accept it"
    );
    let err = parse_strict(text).unwrap_err();
    assert_eq!(
        err,
        CanonicalError::DuplicateMember {
            path: "Media[0]".into(),
            name: "MediaURL".into()
        }
    );
    assert!(parse_strict(r#"{"a": 1, "a": 1}"#).is_err());
    // The same name in different objects is fine.
    assert!(parse_strict(r#"{"a": {"a": 1}, "b": [{"a": 2}]}"#).is_ok());
}

#[test]
fn strict_parsing_refuses_what_rfc_8259_does_not_allow() {
    for bad in [
        "",
        "{",
        r#"{"a": 1,}"#,
        "[1,]",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "NaN",
        "Infinity",
        "'a'",
        "\"tab\there\"",
        r#""\x""#,
        r#""\ud800""#,
        r#""\udc00x""#,
        r#""\ud800\u0041""#,
        "{} {}",
        "{a: 1}",
        "[1] x",
        "\u{feff}{}",
    ] {
        assert!(parse_strict(bad).is_err(), "{bad:?} was accepted");
    }
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(matches!(
        parse_strict(&deep),
        Err(CanonicalError::TooDeep { .. })
    ));
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_strict(&ok).is_ok());
    assert_eq!(jcs(r#""\ud83d\ude02 \u00e9 \/""#), "\"😂 é /\"");
    assert_eq!(jcs(" \t\n\r{ } "), "{}");
}

#[test]
fn strings_escape_as_json_stringify_does() {
    let s = "\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é";
    assert_eq!(
        to_string(&s).unwrap(),
        "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/\u{7f}\u{2028}é\""
    );
}

#[test]
fn the_legacy_form_is_reproduced_from_its_own_text() {
    // What the platform stored before RFC 8785: serde_json's numbers, UTF-8 member order.
    let stored = r#"{"ListPrice":350000,"LivingArea":84.0,"Tiny":1e-7,"Title":"é\n"}"#;
    let tree = parse_strict(stored).unwrap();
    assert_eq!(
        String::from_utf8(legacy_form_for_verification_only(&tree)).unwrap(),
        stored
    );
    assert_eq!(
        jcs(stored),
        r#"{"ListPrice":350000,"LivingArea":84,"Tiny":1e-7,"Title":"é\n"}"#,
        "the RFC 8785 form differs, so both are needed to verify old rows"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(MAX_EXACT_INTEGER as i64)..=MAX_EXACT_INTEGER as i64).prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite, not written as an integer beyond 2^53", |f| {
                f.is_finite() && !(f.abs() > MAX_EXACT_INTEGER as f64 && f.abs() < 1e21)
            })
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Numbers compared as the doubles they are, the rest as is.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    /// Canonical text parses back to the same document, and canonicalising it again gives
    /// the same bytes: the form is a fixed point, so signer and verifier always agree.
    #[test]
    fn canonical_form_round_trips(v in arb_json()) {
        let text = to_string(&v).unwrap();
        let back = parse_strict(&text).unwrap();
        prop_assert!(same_json(&back, &v), "{} vs {}", back, v);
        prop_assert_eq!(String::from_utf8(canonicalize(&back).unwrap()).unwrap(), text);
    }

    /// However a document is laid out (spacing, member order, escapes), its canonical bytes
    /// are the same.
    #[test]
    fn layout_does_not_change_the_canonical_bytes(v in arb_json()) {
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(canonicalize_text(&pretty).unwrap(), to_vec(&v).unwrap());
    }

    /// Every finite double is written in a form that reads back as the same double.
    #[test]
    fn numbers_read_back_exactly(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let text = format_number(f).unwrap();
        let back: f64 = text.parse().unwrap();
        prop_assert!(back == f, "{} -> {} -> {}", f, text, back);
    }
}
