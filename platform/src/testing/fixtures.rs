//! Rows for tests that need an agency, a certificate, a listing or a user to exist, written
//! straight to the database. The signature on fixture listings is NOT a real one: tests of
//! signature checking go through the agency API with real keys.

use api_types::{ListingDocument, SignatureAlgorithm, SignatureEnvelope};
use diesel::prelude::*;

use crate::agencies::{Agency, AgencyStatus, AgencyStore, NewAgency};
use crate::db::DbConn;
use crate::db::schema::{certificates, users};
use crate::listings::{ListingStore, PublishError, Published, VerifiedListing};

/// An active agency named `name` (licence derived from it) and a valid client certificate row;
/// returns the agency and the certificate's serial.
pub fn active_agency_with_certificate(conn: &mut DbConn, name: &str) -> (Agency, String) {
    let licence: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        + "-LIC";
    let new = NewAgency::parse(name, &licence, "desk@agency.example").expect("fixture agency");
    let serial = format!("{:032x}", rand::random::<u128>() >> 1);
    let agency = crate::with_conn!(conn, |c| {
        let agency = c
            .insert_agency(&new, AgencyStatus::Active)
            .expect("insert agency")
            .expect("licence is new");
        let now = crate::db::now_ms();
        diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(&serial),
                certificates::agency_id.eq(agency.id),
                certificates::kind.eq("client"),
                certificates::subject.eq(format!("CN={name}")),
                certificates::fingerprint.eq(format!("fixture-{serial}")),
                certificates::pem.eq("fixture"),
                certificates::not_before.eq(now - 60_000),
                certificates::not_after.eq(now + 90 * 86_400_000),
                certificates::status.eq("valid"),
                certificates::created_at.eq(now),
            ))
            .execute(c)
            .expect("insert certificate");
        agency
    });
    (agency, serial)
}

/// Publishes `doc` for the agency as if it had arrived signed with certificate `serial`.
pub fn publish(
    conn: &mut DbConn,
    agency_id: i64,
    serial: &str,
    doc: &ListingDocument,
) -> Result<Published, PublishError> {
    let listing = VerifiedListing::new(
        doc.clone(),
        SignatureEnvelope {
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            value: "Zml4dHVyZQ==".into(),
        },
        serial,
    );
    crate::write_tx!(conn, |c| c.publish_listing(agency_id, &listing))
}

/// A verified website user with this email; returns the user id.
pub fn user(conn: &mut DbConn, email: &str) -> i64 {
    let now = crate::db::now_ms();
    crate::with_conn!(conn, |c| diesel::insert_into(users::table)
        .values((
            users::email.eq(email.to_lowercase()),
            users::password_hash.eq("fixture: no password"),
            users::email_verified_at.eq(Some(now)),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(users::id)
        .get_result(c))
    .expect("insert user")
}
