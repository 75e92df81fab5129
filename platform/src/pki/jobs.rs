//! Background work of the PKI: telling agencies 14 days ahead that a certificate expires (the
//! client renews on its own; the mail covers a desk that has been switched off).

use std::time::Duration;

use crate::agencies::AgencyStore;
use crate::db::{Db, DbConn};
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::pki::{CertificateStore, PkiError};
use crate::shutdown::Shutdown;

/// How far ahead of expiry the agency is told.
pub const NOTICE_DAYS: i64 = 14;

/// Queues an expiry notice for every client certificate that expires within [`NOTICE_DAYS`],
/// was not renewed, and whose agency was not yet told. Returns how many were queued.
pub fn queue_expiry_notices(conn: &mut DbConn) -> Result<usize, PkiError> {
    let now = crate::db::now_ms();
    let due = crate::with_conn!(conn, |c| c
        .expiring_unnoticed(now + NOTICE_DAYS * 86_400_000, now))?;
    let mut queued = 0;
    for cert in due {
        let Some(agency_id) = cert.agency_id else {
            continue;
        };
        crate::write_tx!(conn, |c| -> Result<(), PkiError> {
            let Some(agency) = c.find_agency(agency_id)? else {
                return Ok(());
            };
            let not_after = crate::listings::ms_to_time(cert.not_after);
            let n = NewNotification {
                agency_id: Some(agency.id),
                ..NewNotification::new(
                    MailKind::CertificateExpiring,
                    agency.email.clone(),
                    format!("certificate_expiring:{}", cert.serial),
                    serde_json::json!({
                        "agency_name": agency.name,
                        "serial": cert.serial,
                        "not_after": not_after.format(&time::format_description::well_known::Rfc3339)?,
                        "days_left": (cert.not_after - now + 43_200_000) / 86_400_000,
                    }),
                )
            };
            c.enqueue_notification(&n)?;
            c.mark_expiry_notice(&cert.serial, now)?;
            Ok(())
        })?;
        queued += 1;
    }
    Ok(queued)
}

/// One round of [`queue_expiry_notices`], logged.
pub async fn expiry_notices_round(db: Db) {
    let result = db.run::<_, PkiError, _>(queue_expiry_notices).await;
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "queued certificate expiry notices"),
        Err(e) => tracing::warn!(error = %e, "certificate expiry notices failed; will retry"),
    }
}

/// Runs [`queue_expiry_notices`] at start and then every `every`, until shutdown (one node;
/// with several, the server runs [`expiry_notices_round`] under a lease, `crate::cluster`).
pub async fn expiry_notices(db: Db, every: Duration, mut shutdown: Shutdown) {
    loop {
        expiry_notices_round(db.clone()).await;
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::{certificates, notifications};

    crate::db_test!(
        expiry_notices_go_out_once_and_skip_renewed_certificates,
        |db| {
            let mut conn = db.get().unwrap();
            let (agency, serial) =
                crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Expiring");
            let (_, renewed) =
                crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Renewed");
            let soon = crate::db::now_ms() + 10 * 86_400_000;
            crate::with_conn!(&mut conn, |c| {
                diesel::update(certificates::table)
                    .set(certificates::not_after.eq(soon))
                    .execute(c)
                    .unwrap();
                // `renewed` was renewed by a newer certificate: no notice for it.
                diesel::insert_into(certificates::table)
                    .values((
                        certificates::serial.eq("feedbeef"),
                        certificates::agency_id.eq(agency.id + 1),
                        certificates::kind.eq("client"),
                        certificates::subject.eq("CN=Renewed"),
                        certificates::fingerprint.eq("fixture-feedbeef"),
                        certificates::pem.eq("fixture"),
                        certificates::not_before.eq(0_i64),
                        certificates::not_after.eq(soon + 90 * 86_400_000),
                        certificates::status.eq("valid"),
                        certificates::renewed_from.eq(Some(renewed.as_str())),
                        certificates::created_at.eq(0_i64),
                    ))
                    .execute(c)
                    .unwrap();
            });
            assert_eq!(queue_expiry_notices(&mut conn).unwrap(), 1);
            assert_eq!(queue_expiry_notices(&mut conn).unwrap(), 0, "only once");
            let rows: Vec<(String, String, Option<i64>)> = crate::with_conn!(&mut conn, |c| {
                notifications::table
                    .select((
                        notifications::kind,
                        notifications::payload,
                        notifications::agency_id,
                    ))
                    .load(c)
            })
            .unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].0, "certificate_expiring");
            assert_eq!(rows[0].2, Some(agency.id));
            let payload: serde_json::Value = serde_json::from_str(&rows[0].1).unwrap();
            assert_eq!(payload["serial"], serial.as_str());
            assert_eq!(payload["days_left"], 10);
        }
    );
}
