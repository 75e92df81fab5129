//! The listing document's rules: each bad field named, the newtypes refused when read, the
//! canonical bytes stable.

use super::*;

#[test]
fn the_example_is_valid_and_uses_reso_names() {
    let doc = ListingDocument::example("A-1");
    doc.validate().unwrap();
    let json = serde_json::to_value(&doc).unwrap();
    for key in [
        "ListingKey",
        "ListPrice",
        "BedroomsTotal",
        "LivingArea",
        "City",
        "PostalCode",
        "StandardStatus",
        "ModificationTimestamp",
        "PublicRemarks",
        "BathroomsTotalInteger",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(
        json["Media"][0]["MediaURL"],
        "https://photos.example/alfama-12/1.jpg"
    );
    assert_eq!(json["StandardStatus"], "Active");
    let back: ListingDocument = serde_json::from_value(json).unwrap();
    assert_eq!(back, doc);
}

fn field_of(doc: ListingDocument) -> String {
    doc.validate().unwrap_err().field
}

#[test]
fn each_bad_field_is_named() {
    let ok = ListingDocument::example("A-1");
    assert_eq!(
        field_of(ListingDocument {
            city: "".into(),
            ..ok.clone()
        }),
        "City"
    );
    assert_eq!(
        field_of(ListingDocument {
            living_area: Some(f64::NAN),
            ..ok.clone()
        }),
        "LivingArea"
    );
    assert_eq!(
        field_of(ListingDocument {
            bedrooms_total: Some(9),
            ..ok.clone()
        }),
        "BedroomsTotal"
    );
    assert_eq!(
        field_of(ListingDocument {
            title: "x".repeat(201),
            ..ok.clone()
        }),
        "Title"
    );
    assert_eq!(
        field_of(ListingDocument {
            media: vec![
                ok.media[0].clone(),
                MediaItem {
                    media_url: "javascript:alert(1)".into()
                }
            ],
            ..ok.clone()
        }),
        "Media[1].MediaURL"
    );
    assert_eq!(
        field_of(ListingDocument {
            modification_timestamp: OffsetDateTime::now_utc() + time::Duration::days(3),
            ..ok.clone()
        }),
        "ModificationTimestamp"
    );
}

#[test]
fn key_price_and_currency_are_refused_when_read_naming_the_field() {
    // The messages are the ones `validate` gave before these were types.
    for (field, value, message) in [
        (
            "ListingKey",
            serde_json::json!("has space"),
            "must be 1 to 64 characters of letters, digits, '.', '_' or '-'",
        ),
        ("ListingKey", serde_json::json!(""), ListingKey::RULE),
        (
            "ListingKey",
            serde_json::json!("k".repeat(65)),
            ListingKey::RULE,
        ),
        (
            "ListPrice",
            serde_json::json!(0),
            "must be between 1 and 1000000000000",
        ),
        ("ListPrice", serde_json::json!(MAX_PRICE + 1), Price::RULE),
        (
            "Currency",
            serde_json::json!("eur"),
            "must be an ISO 4217 code of three capital letters, e.g. EUR",
        ),
        ("Currency", serde_json::json!("EURO"), CurrencyCode::RULE),
    ] {
        let mut json = serde_json::to_value(ListingDocument::example("A-1")).unwrap();
        json[field] = value.clone();
        let err = crate::envelope::read_typed::<ListingDocument>(&json).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            (field, message),
            "{value}"
        );
    }
    assert_eq!(Price::RULE, format!("must be between 1 and {MAX_PRICE}"));
    assert_eq!(
        ListingKey::parse("has space").unwrap_err(),
        FieldError::new("ListingKey", ListingKey::RULE)
    );
    assert_eq!(
        Price::new(0).unwrap_err(),
        FieldError::new("ListPrice", Price::RULE)
    );
    assert_eq!(
        CurrencyCode::parse("eur").unwrap_err(),
        FieldError::new("Currency", CurrencyCode::RULE)
    );
    assert_eq!(ListingKey::parse("A-1._x").unwrap(), "A-1._x");
    assert_eq!(Price::new(MAX_PRICE).unwrap().get(), MAX_PRICE);
    assert_eq!(CurrencyCode::parse("EUR").unwrap(), "EUR");
    // On the wire they are the plain string and integer they always were.
    let doc = ListingDocument::example("A-1");
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["ListingKey"], "A-1");
    assert_eq!(json["ListPrice"], 350_000);
    assert_eq!(json["Currency"], "EUR");
}

#[test]
fn unknown_fields_and_bad_enums_are_refused_when_parsing() {
    let mut json = serde_json::to_value(ListingDocument::example("A-1")).unwrap();
    json["Colour"] = "red".into();
    let err = serde_json::from_value::<ListingDocument>(json).unwrap_err();
    assert!(err.to_string().contains("Colour"), "{err}");

    let mut json = serde_json::to_value(ListingDocument::example("A-1")).unwrap();
    json["StandardStatus"] = "Gone".into();
    assert!(serde_json::from_value::<ListingDocument>(json).is_err());
}

#[test]
fn codes_round_trip() {
    for t in PropertyType::ALL {
        assert_eq!(PropertyType::from_code(t.code()), Some(t));
    }
    for s in StandardStatus::ALL {
        assert_eq!(StandardStatus::from_code(s.code()), Some(s));
    }
    assert_eq!(
        StandardStatus::from_code("Under offer"),
        Some(StandardStatus::UnderOffer)
    );
    assert_eq!(
        TransactionType::from_code("RENT"),
        Some(TransactionType::Rent)
    );
}

#[test]
fn canonical_bytes_are_stable_and_sorted() {
    let doc = ListingDocument::example("A-1");
    let bytes = doc.canonical_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"BathroomsTotalInteger":1,"BedroomsTotal":2,"City":"Lisbon""#),
        "{text}"
    );
    let reparsed: ListingDocument = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reparsed.canonical_bytes(), bytes);
}

#[test]
fn canonical_bytes_survive_the_wire_for_awkward_floats() {
    // A signer serialises, the platform parses and re-canonicalises: the bytes must agree,
    // for every float (serde_json's `float_roundtrip` makes parsing exact).
    for area in [
        84.123_456_789_012_3,
        948_705_129_888.257_7,
        0.1 + 0.2,
        1e-7,
        99_999.999_999_9,
    ] {
        let doc = ListingDocument {
            living_area: Some(area),
            ..ListingDocument::example("F-1")
        };
        let wire = serde_json::to_string(&doc).unwrap();
        let parsed: ListingDocument = serde_json::from_str(&wire).unwrap();
        assert_eq!(parsed.canonical_bytes(), doc.canonical_bytes(), "{area}");
    }
}

#[test]
fn invisible_and_direction_overriding_characters_are_refused() {
    let ok = ListingDocument::example("A-1");
    // "Trojan Source": an override makes "Flat for sale 1000" read otherwise.
    for (text, code) in [
        ("Flat \u{202E}0001 rof\u{202C} sale", 0x202E),
        ("Flat \u{2067}sale\u{2069}", 0x2067),
        ("Fl\u{200B}at for sale", 0x200B),
        ("\u{FEFF}Flat", 0xFEFF),
        ("Flat\u{2060}", 0x2060),
    ] {
        let e = ListingDocument {
            title: text.into(),
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "Title", "{text:?}");
        assert!(
            e.message.contains(&format!("U+{code:04X}")),
            "{}",
            e.message
        );
    }
    let e = ListingDocument {
        public_remarks: "Quiet street.\u{202D} Sunny".into(),
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.field, "PublicRemarks");
    // Joiners and plain direction marks are part of real text (Persian, emoji, mixed scripts).
    for text in [
        "خانه\u{200C}ای در تهران",
        "Family 👨\u{200D}👩\u{200D}👧 home",
        "Apartment \u{200F}שלום\u{200E} view",
    ] {
        ListingDocument {
            title: text.into(),
            ..ok.clone()
        }
        .validate()
        .unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
    }
}
