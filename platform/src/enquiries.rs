//! Enquiries: a buyer contacts the agency about a listing (`POST /listings/{id}/enquiry`, see
//! `web/enquiry.rs`). The enquiry is stored, the agency is emailed at once through the outbox
//! ([`MailKind::Enquiry`]), and the agency's desk pulls it as a lead (`GET /api/v1/enquiries`)
//! and acknowledges it (`POST /api/v1/enquiries/{id}/ack`).
//!
//! Privacy: the buyer's details are the agency's customer data once it has them, so the platform
//! keeps them readable only until the desk has stored them. The acknowledgement erases name,
//! email and phone, and the message too unless a signed-in buyer wrote it (their own words, shown
//! on their `/enquiries` page). What stays is the row's ids and dates. The mail's payload is
//! scrubbed to `{}` once sent ([`MailKind::contains_secret`]). Deleting the buyer's account
//! deletes their rows.

use diesel::prelude::*;

use crate::db::schema::{enquiries, listings};
use crate::email_address::EmailAddress;
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};

/// Longest name accepted (characters).
pub const MAX_NAME: usize = 100;
/// Longest message accepted (characters).
pub const MAX_MESSAGE: usize = 2000;
/// Longest phone number accepted (characters).
pub const MAX_PHONE: usize = 30;
/// Most enquiries one `GET /api/v1/enquiries` returns (oldest first).
pub const PAGE: i64 = 100;

/// A checked enquiry, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnquiry {
    /// The buyer's name.
    pub name: String,
    /// The buyer's email.
    pub email: String,
    /// The buyer's phone, if given.
    pub phone: Option<String>,
    /// The message.
    pub message: String,
}

/// A field the buyer must correct: `(field, message)`.
pub type FieldProblem = (&'static str, String);

impl NewEnquiry {
    /// Checks the form's fields; every problem names its field.
    pub fn parse(
        name: &str,
        email: &str,
        phone: &str,
        message: &str,
        consent: bool,
    ) -> Result<NewEnquiry, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let name = name.trim();
        if name.is_empty() {
            problems.push(("name", "enter your name".to_owned()));
        } else if name.chars().count() > MAX_NAME {
            problems.push(("name", format!("use at most {MAX_NAME} characters")));
        }
        let email = match EmailAddress::parse(email) {
            Ok(e) => Some(e.as_str().to_owned()),
            Err(e) => {
                problems.push(("email", e));
                None
            }
        };
        let phone = phone.trim();
        if phone.chars().count() > MAX_PHONE {
            problems.push(("phone", format!("use at most {MAX_PHONE} characters")));
        } else if !phone.is_empty()
            && (!phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                || phone.chars().filter(char::is_ascii_digit).count() < 5)
        {
            problems.push((
                "phone",
                "enter a phone number with digits (spaces, +, -, ( and ) allowed), or leave it empty"
                    .to_owned(),
            ));
        }
        let message = message.trim();
        if message.is_empty() {
            problems.push(("message", "write your message to the agency".to_owned()));
        } else if message.chars().count() > MAX_MESSAGE {
            problems.push(("message", format!("use at most {MAX_MESSAGE} characters")));
        }
        if !consent {
            problems.push((
                "consent",
                "tick the box to let us pass your details to the agency".to_owned(),
            ));
        }
        match (problems.is_empty(), email) {
            (true, Some(email)) => Ok(NewEnquiry {
                name: name.to_owned(),
                email,
                phone: (!phone.is_empty()).then(|| phone.to_owned()),
                message: message.to_owned(),
            }),
            _ => Err(problems),
        }
    }
}

/// A stored enquiry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = enquiries)]
pub struct EnquiryRow {
    /// Id.
    pub id: i64,
    /// The listing.
    pub listing_id: i64,
    /// The agency.
    pub agency_id: i64,
    /// The signed-in buyer.
    pub user_id: Option<i64>,
    /// Name (None once delivered).
    pub name: Option<String>,
    /// Email (None once delivered).
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Message (None once delivered, unless a signed-in buyer wrote it).
    pub message: Option<String>,
    /// Sent (ms).
    pub created_at: i64,
    /// Acknowledged by the desk (ms).
    pub delivered_at: Option<i64>,
}

/// An undelivered enquiry with its listing's key and title, as the desk reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The row.
    pub row: EnquiryRow,
    /// The agency's listing key.
    pub listing_key: String,
    /// The listing's title.
    pub listing_title: String,
}

/// Enquiry reads and writes; implemented for both connection types.
pub trait EnquiryStore {
    /// Stores the enquiry and queues the agency's email to `agency_email`, in the caller's
    /// transaction; returns the id.
    #[allow(clippy::too_many_arguments)]
    fn create_enquiry(
        &mut self,
        listing_id: i64,
        listing_title: &str,
        agency_id: i64,
        agency_email: &str,
        user_id: Option<i64>,
        new: &NewEnquiry,
        public_url: &str,
        now: i64,
    ) -> QueryResult<i64>;

    /// The agency's undelivered enquiries, oldest first, at most [`PAGE`].
    fn pending_enquiries(&mut self, agency_id: i64) -> QueryResult<Vec<Pending>>;

    /// Marks the agency's enquiry delivered and erases its personal fields; `Ok(false)` when the
    /// agency has no such enquiry. Acknowledging twice is not an error.
    fn acknowledge_enquiry(&mut self, agency_id: i64, id: i64, now: i64) -> QueryResult<bool>;

    /// A signed-in buyer's enquiries, newest first, with their listing's id and title.
    fn user_enquiries(&mut self, user_id: i64) -> QueryResult<Vec<(EnquiryRow, String)>>;
}

crate::impl_for_backends!(EnquiryStore {
    fn create_enquiry(
        &mut self,
        listing_id: i64,
        listing_title: &str,
        agency_id: i64,
        agency_email: &str,
        user_id: Option<i64>,
        new: &NewEnquiry,
        public_url: &str,
        now: i64,
    ) -> QueryResult<i64> {
        let id: i64 = diesel::insert_into(enquiries::table)
            .values((
                enquiries::listing_id.eq(listing_id),
                enquiries::agency_id.eq(agency_id),
                enquiries::user_id.eq(user_id),
                enquiries::name.eq(&new.name),
                enquiries::email.eq(&new.email),
                enquiries::phone.eq(&new.phone),
                enquiries::message.eq(&new.message),
                enquiries::created_at.eq(now),
            ))
            .returning(enquiries::id)
            .get_result(self)?;
        let mut mail = NewNotification::new(
            MailKind::Enquiry,
            agency_email,
            format!("enquiry:{id}"),
            serde_json::json!({
                "listing_title": listing_title,
                "listing_link": format!("{public_url}/listings/{listing_id}"),
                "name": new.name,
                "email": new.email,
                "phone": new.phone.clone().unwrap_or_default(),
                "message": new.message,
            }),
        );
        mail.agency_id = Some(agency_id);
        mail.listing_id = Some(listing_id);
        self.enqueue_notification(&mail)?;
        Ok(id)
    }

    fn pending_enquiries(&mut self, agency_id: i64) -> QueryResult<Vec<Pending>> {
        let rows: Vec<EnquiryRow> = enquiries::table
            .filter(enquiries::agency_id.eq(agency_id))
            .filter(enquiries::delivered_at.is_null())
            .order(enquiries::id.asc())
            .limit(PAGE)
            .select(EnquiryRow::as_select())
            .load(self)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (listing_key, listing_title): (String, String) = listings::table
                .find(row.listing_id)
                .select((listings::listing_key, listings::title))
                .first(self)?;
            out.push(Pending {
                row,
                listing_key,
                listing_title,
            });
        }
        Ok(out)
    }

    fn acknowledge_enquiry(&mut self, agency_id: i64, id: i64, now: i64) -> QueryResult<bool> {
        let Some(row) = enquiries::table
            .filter(enquiries::id.eq(id))
            .filter(enquiries::agency_id.eq(agency_id))
            .select(EnquiryRow::as_select())
            .first(self)
            .optional()?
        else {
            return Ok(false);
        };
        let keep_message = row.user_id.is_some();
        diesel::update(enquiries::table.find(id))
            .set((
                enquiries::name.eq(None::<String>),
                enquiries::email.eq(None::<String>),
                enquiries::phone.eq(None::<String>),
                enquiries::delivered_at.eq(row.delivered_at.unwrap_or(now)),
            ))
            .execute(self)?;
        if !keep_message {
            diesel::update(enquiries::table.find(id))
                .set(enquiries::message.eq(None::<String>))
                .execute(self)?;
        }
        Ok(true)
    }

    fn user_enquiries(&mut self, user_id: i64) -> QueryResult<Vec<(EnquiryRow, String)>> {
        let rows: Vec<EnquiryRow> = enquiries::table
            .filter(enquiries::user_id.eq(user_id))
            .order(enquiries::id.desc())
            .limit(200)
            .select(EnquiryRow::as_select())
            .load(self)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let title: Option<String> = listings::table
                .find(row.listing_id)
                .select(listings::title)
                .first(self)
                .optional()?;
            out.push((row, title.unwrap_or_default()));
        }
        Ok(out)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_checked_field_by_field() {
        let ok = NewEnquiry::parse(
            " Ana ",
            "ana@example.org",
            "+351 912 345 678",
            " Is it still free? ",
            true,
        )
        .unwrap();
        assert_eq!(ok.name, "Ana");
        assert_eq!(ok.message, "Is it still free?");
        assert_eq!(ok.phone.as_deref(), Some("+351 912 345 678"));
        let fields = |r: Result<NewEnquiry, Vec<FieldProblem>>| -> Vec<&'static str> {
            r.unwrap_err().into_iter().map(|(f, _)| f).collect()
        };
        assert_eq!(
            fields(NewEnquiry::parse("", "nope", "call me", "", false)),
            ["name", "email", "phone", "message", "consent"]
        );
        assert_eq!(
            fields(NewEnquiry::parse(
                "Ana",
                "ana@example.org",
                "",
                &"x".repeat(MAX_MESSAGE + 1),
                true
            )),
            ["message"]
        );
        assert_eq!(
            NewEnquiry::parse("Ana", "ana@example.org", "", "Hi", true)
                .unwrap()
                .phone,
            None
        );
    }
}
