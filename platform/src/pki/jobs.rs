//! Background work of the PKI: telling agencies 14 days ahead that a certificate expires (the
//! client renews on its own; the mail covers a desk that has been switched off).

use std::time::Duration;

use crate::agencies::AgencyStore;
use crate::db::{Db, DbConn};
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::pki::CertificateStore;
use crate::server::Shutdown;

/// How far ahead of expiry the agency is told.
pub const NOTICE_DAYS: i64 = 14;

/// Queues an expiry notice for every client certificate that expires within [`NOTICE_DAYS`],
/// was not renewed, and whose agency was not yet told. Returns how many were queued.
pub fn queue_expiry_notices(conn: &mut DbConn) -> anyhow::Result<usize> {
    let now = crate::db::now_ms();
    let due = crate::with_conn!(conn, |c| c
        .expiring_unnoticed(now + NOTICE_DAYS * 86_400_000, now))?;
    let mut queued = 0;
    for cert in due {
        let Some(agency_id) = cert.agency_id else {
            continue;
        };
        crate::write_tx!(conn, |c| -> anyhow::Result<()> {
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
                        "days_left": (cert.not_after - now) / 86_400_000,
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

/// Runs [`queue_expiry_notices`] at start and then every `every`, until shutdown.
pub async fn expiry_notices(db: Db, every: Duration, mut shutdown: Shutdown) {
    loop {
        let result = db.run::<_, anyhow::Error, _>(queue_expiry_notices).await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "queued certificate expiry notices"),
            Err(e) => tracing::warn!(error = %e, "certificate expiry notices failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}
