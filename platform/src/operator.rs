//! Running the operator commands of the `platform` binary: opens the database (and the CA when a
//! fingerprint is needed), calls [`crate::admin`], prints text or `--json`.

use anyhow::Context;
use serde::Serialize;

use crate::admin::{self, IssuedToken};
use crate::agencies::{AgencyStatus, AgencyStore};
use crate::audit::AuditLog;
use crate::cli::{AgencyCommand, CertCommand, ListingCommand};
use crate::config::Config;
use crate::db::DbConn;
use crate::pki::{CertificateStore, Pki};

fn connect(config: &Config) -> anyhow::Result<DbConn> {
    crate::server::prepare_data_dir(config)?;
    let db = crate::server::open_database(config)?;
    Ok(db.get()?)
}

fn fingerprint(config: &Config) -> anyhow::Result<String> {
    Ok(Pki::open(config)?.fingerprint())
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

fn token_text(t: &IssuedToken) -> String {
    format!(
        "agency {} ({}) is active\nenrolment token: {}\n  (single use, expires {}; also emailed to {})\nCA fingerprint (SHA-256): {}",
        t.agency.id, t.agency.name, t.token, t.expires_at, t.agency.email, t.ca_fingerprint
    )
}

fn ms(ms: i64) -> String {
    crate::listings::ms_to_time(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `platform agency …`
pub fn agency(config: &Config, cmd: AgencyCommand, json: bool) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    match cmd {
        AgencyCommand::Add {
            name,
            licence,
            email,
        } => {
            let fp = fingerprint(config)?;
            let t = admin::add_agency(&mut conn, config, &fp, &name, &licence, &email)?;
            print(json, &t, || token_text(&t));
        }
        AgencyCommand::List { status } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(AgencyStatus::from_code(s).with_context(|| {
                    format!("--status {s}: use pending, active, rejected or suspended")
                })?),
            };
            let list = crate::with_conn!(&mut conn, |c| c.list_agencies(status))?;
            print(json, &list, || {
                let mut out = format!(
                    "{:>5}  {:<10} {:<16} {:<30} email",
                    "id", "status", "licence", "name"
                );
                for a in &list {
                    out.push_str(&format!(
                        "\n{:>5}  {:<10} {:<16} {:<30} {}",
                        a.id, a.status, a.licence, a.name, a.email
                    ));
                }
                out
            });
        }
        AgencyCommand::Approve { id } => {
            let fp = fingerprint(config)?;
            let a = admin::approve_agency(&mut conn, config, &fp, id)?;
            print(json, &a, || match &a.token {
                Some(t) => token_text(t),
                None => format!(
                    "agency {} ({}) is active again; its certificates work again",
                    a.agency.id, a.agency.name
                ),
            });
        }
        AgencyCommand::Reject { id } => {
            let a = admin::reject_agency(&mut conn, id)?;
            print(json, &a, || {
                format!(
                    "agency {} ({}) rejected; the applicant is told by email",
                    a.id, a.name
                )
            });
        }
        AgencyCommand::Suspend { id } => {
            let a = admin::suspend_agency(&mut conn, id)?;
            print(json, &a, || {
                format!(
                    "agency {} ({}) suspended; its requests are refused from now on",
                    a.id, a.name
                )
            });
        }
        AgencyCommand::Token { id } => {
            let fp = fingerprint(config)?;
            let t = admin::new_token(&mut conn, config, &fp, id)?;
            print(json, &t, || token_text(&t));
        }
    }
    Ok(())
}

/// `platform cert …`
pub fn cert(config: &Config, cmd: CertCommand, json: bool) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    match cmd {
        CertCommand::List { agency } => {
            let list = crate::with_conn!(&mut conn, |c| c.list_certificates(agency))?;
            print(json, &list, || {
                let mut out = format!(
                    "{:<34} {:<7} {:>6}  {:<8} {:<26} subject",
                    "serial", "kind", "agency", "status", "not after"
                );
                for c in &list {
                    out.push_str(&format!(
                        "\n{:<34} {:<7} {:>6}  {:<8} {:<26} {}",
                        c.serial,
                        c.kind,
                        c.agency_id
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        c.status,
                        ms(c.not_after),
                        c.subject
                    ));
                }
                out
            });
        }
        CertCommand::Revoke { serial, reason } => {
            let reason: ca::RevocationReason = reason.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--reason {reason}: use one of unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation, privilege_withdrawn"
                )
            })?;
            let row = admin::revoke_certificate(&mut conn, &serial, reason)?;
            print(json, &row, || {
                format!(
                    "certificate {} revoked ({}); refused from the agency's next request",
                    row.serial, reason
                )
            });
        }
    }
    Ok(())
}

/// `platform listing …`
pub fn listing(config: &Config, cmd: ListingCommand, json: bool) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    match cmd {
        ListingCommand::TakeDown { id, reason } => {
            let signer = Pki::open(config)?.platform_signer(&mut conn)?;
            let version = admin::take_down_listing(&mut conn, &signer, id, &reason)?;
            let v = serde_json::json!({
                "id": id,
                "version": version,
                "status": "taken_down",
                "signed_by": signer.serial(),
            });
            print(json, &v, || {
                format!(
                    "listing {id} taken down; the statement is signed by the platform's certificate {}",
                    signer.serial()
                )
            });
        }
    }
    Ok(())
}

/// `platform audit`
pub fn audit(
    config: &Config,
    action: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let entries = crate::with_conn!(&mut conn, |c| c
        .audit_entries(action.as_deref(), limit.clamp(1, 10_000)))?;
    print(json, &entries, || {
        let mut out = String::new();
        for e in &entries {
            out.push_str(&format!(
                "{}  {:<18} {:<20} {:<34} {}\n",
                ms(e.at),
                e.actor,
                e.action,
                e.subject.as_deref().unwrap_or("-"),
                e.detail
            ));
        }
        out.trim_end().to_owned()
    });
    Ok(())
}
