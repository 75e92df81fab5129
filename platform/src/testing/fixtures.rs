//! Rows for tests that need an agency, a certificate, a listing or a user to exist, written
//! straight to the database. Fixture agencies get a real key and a real client certificate from
//! a fixture CA (one per test process), and fixture listings carry a real signature over their
//! RFC 8785 form, verified like any other ([`VerifiedListing::verify`]); tests of the agency
//! API itself go through the real server with [`super::agency::TestAgency`].

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use api_types::{ListingDocument, ListingObject, SignatureAlgorithm, SignatureEnvelope};
use base64::Engine;
use diesel::prelude::*;

use crate::accounts::UserStore;
use crate::agencies::{Agency, AgencyStatus, AgencyStore, NewAgency};
use crate::db::DbConn;
use crate::db::schema::certificates;
use crate::listings::{ListingStore, PublishError, Published, VerifiedListing};

/// The fixture CA: made in a temporary directory that is removed at once (the CA stays in
/// memory), so tests leave nothing behind.
fn fixture_ca() -> &'static ca::CertificateAuthority {
    static CA: OnceLock<ca::CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        ca::CertificateAuthority::load_or_create(&dir.path().join("ca"), "Fixture", None)
            .expect("fixture CA")
    })
}

/// Each fixture certificate's key and DER, by serial.
type Signers = Mutex<HashMap<String, (ca::keys::PrivateKey, Vec<u8>)>>;

fn signers() -> &'static Signers {
    static KEYS: OnceLock<Signers> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

/// An active agency named `name` (licence derived from it) with a valid client certificate for
/// a fresh key; returns the agency and the certificate's serial.
pub fn active_agency_with_certificate(conn: &mut DbConn, name: &str) -> (Agency, String) {
    let licence: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        + "-LIC";
    let new = NewAgency::parse(name, &licence, "desk@agency.example").expect("fixture agency");
    let agency = crate::with_conn!(conn, |c| c
        .insert_agency(&new, AgencyStatus::Active)
        .expect("insert agency")
        .expect("licence is new"));
    let serial = another_certificate(conn, &agency);
    (agency, serial)
}

/// Another valid client certificate of `agency`, for a fresh key (as after a renewal or a
/// re-enrolment); returns its serial.
pub fn another_certificate(conn: &mut DbConn, agency: &Agency) -> String {
    let key = ca::keys::PrivateKey::generate_p256().expect("fixture key");
    let csr = key.csr_pem("fixture").expect("fixture CSR");
    let issued = fixture_ca()
        .issue_client(
            &csr,
            &ca::ClientProfile::new(agency.id.to_string(), agency.name.clone(), 90),
        )
        .expect("fixture certificate");
    crate::with_conn!(conn, |c| diesel::insert_into(certificates::table)
        .values((
            certificates::serial.eq(&issued.serial),
            certificates::agency_id.eq(agency.id),
            certificates::kind.eq("client"),
            certificates::subject.eq(&issued.subject),
            certificates::fingerprint.eq(issued.fingerprint.to_hex()),
            certificates::pem.eq(&issued.pem),
            certificates::not_before.eq(crate::listings::time_to_ms(issued.not_before)),
            certificates::not_after.eq(crate::listings::time_to_ms(issued.not_after)),
            certificates::status.eq("valid"),
            certificates::created_at.eq(crate::db::now_ms()),
        ))
        .execute(c))
    .expect("insert certificate");
    signers()
        .lock()
        .expect("fixture keys")
        .insert(issued.serial.clone(), (key, issued.der));
    issued.serial
}

/// `doc` signed with the key of fixture certificate `serial`, as the agency would send it.
pub fn sign(serial: &str, doc: &ListingDocument) -> (ListingObject, SignatureEnvelope) {
    let keys = signers().lock().expect("fixture keys");
    let (key, _) = keys
        .get(serial)
        .unwrap_or_else(|| panic!("{serial} is not a fixture certificate"));
    let object = ListingObject::new(doc.clone()).expect("a fixture document has a canonical form");
    let signature = key.sign(object.canonical_bytes()).expect("sign");
    (
        object,
        SignatureEnvelope {
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            value: base64::engine::general_purpose::STANDARD.encode(&signature.bytes),
        },
    )
}

/// Publishes `doc` for the agency, signed with the key of fixture certificate `serial` and
/// verified like a document that came through the API.
pub fn publish(
    conn: &mut DbConn,
    agency_id: i64,
    serial: &str,
    doc: &ListingDocument,
) -> Result<Published, PublishError> {
    publish_with(
        conn,
        agency_id,
        serial,
        doc,
        &crate::listings::Precondition::Unchecked,
    )
}

/// [`publish`] under `precondition` (what `If-Match` / `If-None-Match` ask through the API).
pub fn publish_with(
    conn: &mut DbConn,
    agency_id: i64,
    serial: &str,
    doc: &ListingDocument,
    precondition: &crate::listings::Precondition,
) -> Result<Published, PublishError> {
    let (object, signature) = sign(serial, doc);
    let der = signers().lock().expect("fixture keys")[serial].1.clone();
    let listing = VerifiedListing::verify(object.raw(), signature, &der, serial)
        .unwrap_or_else(|e| panic!("fixture listing {}: {e}", doc.listing_key));
    crate::write_tx!(conn, |c| c.publish_listing(
        agency_id,
        &listing,
        precondition
    ))
}

/// The platform's document-signing key for tests, from a fresh application state.
pub fn platform_signer(db: &crate::db::Db) -> (tempfile::TempDir, crate::pki::PlatformSigner) {
    let (dir, state) = super::app_state(db);
    let mut conn = db.get().expect("connection");
    let signer = state
        .pki()
        .platform_signer(&mut conn)
        .expect("platform signer");
    (dir, signer)
}

/// A verified website user with this email; returns the user id.
pub fn user(conn: &mut DbConn, email: &str) -> i64 {
    let now = crate::db::now_ms();
    crate::with_conn!(conn, |c| c.insert_user(
        &email.to_lowercase(),
        "fixture: no password",
        Some(now),
        now
    ))
    .expect("insert user")
    .expect("a new address")
}
