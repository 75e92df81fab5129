//! Agencies: who may publish. An agency applies (pending), an operator vets it and approves
//! (active) or rejects it, and may later suspend it. Only an active agency's certificates are
//! accepted on the agency API.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::agencies;
use crate::email_address::EmailAddress;

/// Where an agency stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyStatus {
    /// Applied, not yet vetted.
    Pending,
    /// Vetted and allowed to publish.
    Active,
    /// Refused after vetting.
    Rejected,
    /// Was active; publishing is blocked until an operator approves again.
    Suspended,
}

impl AgencyStatus {
    /// Every status.
    pub const ALL: [AgencyStatus; 4] = [
        AgencyStatus::Pending,
        AgencyStatus::Active,
        AgencyStatus::Rejected,
        AgencyStatus::Suspended,
    ];

    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            AgencyStatus::Pending => "pending",
            AgencyStatus::Active => "active",
            AgencyStatus::Rejected => "rejected",
            AgencyStatus::Suspended => "suspended",
        }
    }

    /// Parses [`AgencyStatus::code`].
    pub fn from_code(code: &str) -> Option<AgencyStatus> {
        AgencyStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// An agency as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = agencies)]
pub struct Agency {
    /// Platform id; also in the agency's certificates (SAN URI).
    pub id: i64,
    /// Trading name.
    pub name: String,
    /// Licence or registration number, unique.
    pub licence: String,
    /// Contact address for enrolment and certificate mail.
    pub email: String,
    /// Status code (see [`AgencyStatus`]).
    pub status: String,
    /// Applied at (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Agency {
    /// The parsed status (an unknown code, impossible by the table's CHECK, reads as suspended).
    pub fn status(&self) -> AgencyStatus {
        AgencyStatus::from_code(&self.status).unwrap_or(AgencyStatus::Suspended)
    }
}

/// A valid application: name and licence trimmed and non-empty, a plausible email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgency {
    name: String,
    licence: String,
    email: EmailAddress,
}

/// Which field of an application is wrong, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ApplicationError {
    /// `name`, `licence` or `email`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl NewAgency {
    /// Checks an application.
    pub fn parse(name: &str, licence: &str, email: &str) -> Result<NewAgency, ApplicationError> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() || name.chars().count() > 120 {
            return Err(ApplicationError {
                field: "name",
                message: "give the agency's name (1 to 120 characters)".into(),
            });
        }
        if name.chars().any(char::is_control) {
            return Err(ApplicationError {
                field: "name",
                message: "must not contain control characters".into(),
            });
        }
        let licence = licence.trim().to_owned();
        if licence.is_empty()
            || licence.len() > 40
            || !licence
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.' | ' '))
        {
            return Err(ApplicationError {
                field: "licence",
                message: "give the licence number (1 to 40 letters, digits, '-', '/', '.')".into(),
            });
        }
        let email = EmailAddress::parse(email).map_err(|message| ApplicationError {
            field: "email",
            message,
        })?;
        Ok(NewAgency {
            name,
            licence,
            email,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The licence number.
    pub fn licence(&self) -> &str {
        &self.licence
    }

    /// The contact address.
    pub fn email(&self) -> &EmailAddress {
        &self.email
    }
}

/// Storing and reading agencies; implemented for both connection types.
pub trait AgencyStore {
    /// Inserts an application with `status`; `Ok(None)` when the licence is already registered.
    fn insert_agency(
        &mut self,
        agency: &NewAgency,
        status: AgencyStatus,
    ) -> QueryResult<Option<Agency>>;

    /// One agency.
    fn find_agency(&mut self, id: i64) -> QueryResult<Option<Agency>>;

    /// Agencies, optionally of one status, oldest first.
    fn list_agencies(&mut self, status: Option<AgencyStatus>) -> QueryResult<Vec<Agency>>;

    /// Changes an agency's status; returns the updated agency.
    fn set_agency_status(&mut self, id: i64, status: AgencyStatus) -> QueryResult<Option<Agency>>;
}

crate::impl_for_backends!(AgencyStore {
    fn insert_agency(
        &mut self,
        agency: &NewAgency,
        status: AgencyStatus,
    ) -> QueryResult<Option<Agency>> {
        let now = crate::db::now_ms();
        diesel::insert_into(agencies::table)
            .values((
                agencies::name.eq(&agency.name),
                agencies::licence.eq(&agency.licence),
                agencies::email.eq(agency.email.as_str()),
                agencies::status.eq(status.code()),
                agencies::created_at.eq(now),
                agencies::updated_at.eq(now),
            ))
            .on_conflict(agencies::licence)
            .do_nothing()
            .returning(Agency::as_returning())
            .get_result(self)
            .optional()
    }

    fn find_agency(&mut self, id: i64) -> QueryResult<Option<Agency>> {
        agencies::table
            .find(id)
            .select(Agency::as_select())
            .first(self)
            .optional()
    }

    fn list_agencies(&mut self, status: Option<AgencyStatus>) -> QueryResult<Vec<Agency>> {
        let mut query = agencies::table.select(Agency::as_select()).into_boxed();
        if let Some(status) = status {
            query = query.filter(agencies::status.eq(status.code()));
        }
        query.order(agencies::id.asc()).load(self)
    }

    fn set_agency_status(&mut self, id: i64, status: AgencyStatus) -> QueryResult<Option<Agency>> {
        diesel::update(agencies::table.find(id))
            .set((
                agencies::status.eq(status.code()),
                agencies::updated_at.eq(crate::db::now_ms()),
            ))
            .returning(Agency::as_returning())
            .get_result(self)
            .optional()
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applications_are_checked_field_by_field() {
        let ok = NewAgency::parse("  Acme   Homes ", "AMI-1234", "desk@acme.example").unwrap();
        assert_eq!(ok.name(), "Acme Homes");
        assert_eq!(
            NewAgency::parse("", "AMI-1", "a@b.example")
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            NewAgency::parse("Acme", "AMI;1", "a@b.example")
                .unwrap_err()
                .field,
            "licence"
        );
        assert_eq!(
            NewAgency::parse("Acme", "AMI-1", "nope").unwrap_err().field,
            "email"
        );
    }

    crate::db_test!(agencies_are_stored_listed_and_change_status, |db| {
        let mut conn = db.get().unwrap();
        crate::with_conn!(&mut conn, |c| {
            let new = NewAgency::parse("Acme Homes", "AMI-1", "desk@acme.example").unwrap();
            let a = c
                .insert_agency(&new, AgencyStatus::Pending)
                .unwrap()
                .unwrap();
            assert_eq!(a.status(), AgencyStatus::Pending);
            // Same licence again: refused, the first one unchanged.
            let dup = NewAgency::parse("Other", "AMI-1", "x@y.example").unwrap();
            assert!(
                c.insert_agency(&dup, AgencyStatus::Pending)
                    .unwrap()
                    .is_none()
            );
            assert_eq!(c.find_agency(a.id).unwrap().unwrap().name, "Acme Homes");

            let b = c
                .insert_agency(
                    &NewAgency::parse("Beta", "B-2", "b@beta.example").unwrap(),
                    AgencyStatus::Pending,
                )
                .unwrap()
                .unwrap();
            let active = c
                .set_agency_status(b.id, AgencyStatus::Active)
                .unwrap()
                .unwrap();
            assert_eq!(active.status(), AgencyStatus::Active);
            assert_eq!(c.list_agencies(None).unwrap().len(), 2);
            let pending = c.list_agencies(Some(AgencyStatus::Pending)).unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].id, a.id);
            assert!(
                c.set_agency_status(999, AgencyStatus::Active)
                    .unwrap()
                    .is_none()
            );
        });
    });
}
