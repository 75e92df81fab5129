//! Buyers' enquiries from the website, pulled at `sync` (`GET /api/v1/enquiries`): each becomes
//! a customer (kind `tenant`, the tenants-or-buyers kind, without wishes: a lead) named and
//! reachable as the buyer wrote, linked to the listing asked about, with the message in its
//! notes. Then the desk acknowledges it (`POST /api/v1/enquiries/{id}/ack`) and the platform
//! erases the buyer's details. `received_enquiries` remembers each enquiry stored, so an
//! enquiry pulled twice (an acknowledgement lost on the way) makes one customer. The new
//! customer reaches the agency's other desks through the vault like any other.

use api_types::api::Enquiry;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{customers, received_enquiries};
use crate::error::ClientError;
use crate::identity::Session;

/// What pulling enquiries did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnquiryReport {
    /// New leads (customers made).
    pub leads: usize,
    /// Enquiries already stored before (acknowledged again, no new customer).
    pub already_stored: usize,
    /// Local ids of the customers made.
    pub customers: Vec<i32>,
}

/// Pulls the agency's waiting enquiries, stores each as a lead once, and acknowledges it.
pub fn pull(
    conn: &mut SqliteConnection,
    session: &mut Session,
) -> Result<EnquiryReport, ClientError> {
    let mut report = EnquiryReport::default();
    loop {
        let page: Vec<Enquiry> = session.client.get_json("/api/v1/enquiries")?;
        if page.is_empty() {
            return Ok(report);
        }
        for enquiry in &page {
            match store(conn, enquiry)? {
                Some(id) => {
                    report.leads += 1;
                    report.customers.push(id);
                }
                None => report.already_stored += 1,
            }
            let path = format!("/api/v1/enquiries/{}/ack", enquiry.id);
            let r = session
                .client
                .send(|c, base| c.post(format!("{base}{path}")))?;
            if !r.status().is_success() && r.status().as_u16() != 404 {
                return Err(crate::net::api_error(r));
            }
        }
    }
}

/// Stores one enquiry as a customer unless it was stored before; the new customer's id.
pub fn store(conn: &mut SqliteConnection, e: &Enquiry) -> Result<Option<i32>, ClientError> {
    conn.immediate_transaction(|c| {
        let seen: i64 = received_enquiries::table.find(e.id).count().get_result(c)?;
        if seen > 0 {
            return Ok(None);
        }
        let cut = |s: &str, n: usize| s.trim().chars().take(n).collect::<String>();
        let name = match cut(&e.name, 200) {
            n if n.is_empty() => format!("Enquiry {}", e.id),
            n => n,
        };
        let contact = cut(
            &match &e.phone {
                Some(phone) => format!("{} · {phone}", e.email),
                None => e.email.clone(),
            },
            200,
        );
        let sent = time::OffsetDateTime::from_unix_timestamp(e.created_at_ms / 1000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let notes = cut(
            &format!(
                "Enquiry from the website ({sent}) about {} \"{}\":\n{}",
                e.listing_key, e.listing_title, e.message
            ),
            4_000,
        );
        let now = now_ms();
        let id: i32 = diesel::insert_into(customers::table)
            .values((
                customers::kind.eq("tenant"),
                customers::name.eq(name),
                customers::contact.eq(contact),
                customers::listing_keys
                    .eq(serde_json::to_string(&[&e.listing_key]).unwrap_or_default()),
                customers::notes.eq(notes),
                customers::created_at.eq(now),
                customers::updated_at.eq(now),
            ))
            .returning(customers::id)
            .get_result(c)?;
        diesel::insert_into(received_enquiries::table)
            .values((
                received_enquiries::enquiry_id.eq(e.id),
                received_enquiries::customer_id.eq(Some(id)),
                received_enquiries::received_at.eq(now),
            ))
            .execute(c)?;
        Ok(Some(id))
    })
}
