//! Running the operator commands of the `platform` binary: opens the database (and the CA when a
//! fingerprint is needed), calls [`crate::admin`], prints text or `--json`.

use serde::Serialize;

use crate::admin::{self, AdminError, AgencyDetails, IssuedToken};
use crate::agencies::AgencyStatus;
use crate::audit::AuditLog;
use crate::cli::{
    AdminCommand, AgencyCommand, CaCommand, CertCommand, ListingCommand, MailCommand,
};
use crate::config::Config;
use crate::db::{DbConn, DbError};
use crate::pki::{CertificateStore, Pki, PkiError, Revocation, RevocationOutcome};

/// Why an operator command failed; the binary prints it with its causes on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The data directory or the database could not be prepared or opened (the cause says
    /// which and why).
    #[error(transparent)]
    Startup(#[from] crate::server::ServerError),
    /// No database connection could be had.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A database query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The certificate authority refused or failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The operator action was refused (no such record, wrong state, bad input).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// An option's value is not acceptable; the message names the option and what it takes.
    #[error("{0}")]
    Invalid(String),
    /// A passphrase could not be had, or the two typed differ; nothing was written.
    #[error("{0}")]
    Passphrase(String),
    /// An operator account could not be made.
    #[error(transparent)]
    Account(#[from] crate::operators::OperatorAccountError),
}

/// The configuration an operator command acts with: the addresses the running server recorded
/// at its start (see [`crate::settings`]) in place of those the command was not given itself.
pub fn with_server_settings(
    config: Config,
    given: &crate::config::ConfigOverrides,
) -> Result<Config, OperatorError> {
    let mut conn = connect(&config)?;
    Ok(crate::with_conn!(&mut conn, |c| {
        crate::settings::effective_for_operator(c, config, given)
    })?)
}

/// `platform admin …`
pub fn admin(config: &Config, cmd: AdminCommand, json: bool) -> Result<(), OperatorError> {
    let mut conn = connect(config)?;
    match cmd {
        AdminCommand::Create { email } => {
            let url = crate::with_conn!(&mut conn, |c| crate::settings::console_url(c, config))?;
            let made =
                crate::operators::create_operator(&mut conn, &admin::operator(), &email, &url)?;
            print(json, &made, || {
                format!(
                    "operator {} ({}): they choose a password at\n  {}\n(works once, until {}); the second factor is set up at the first sign-in",
                    made.id, made.email, made.set_password_link, made.expires_at
                )
            });
        }
    }
    Ok(())
}

/// `platform mail …`
pub fn mail(config: &Config, cmd: MailCommand, json: bool) -> Result<(), OperatorError> {
    let mut conn = connect(config)?;
    let line = |m: &admin::mail::MailSummary| {
        format!(
            "{:>6}  {:<10} {:<22} {:<30} attempts {}{}",
            m.id,
            m.status,
            m.kind,
            m.recipient,
            m.attempts,
            m.last_error
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        )
    };
    match cmd {
        MailCommand::Status { limit } => {
            let s = admin::mail::mail_status(&mut conn, limit)?;
            print(json, &s, || {
                let mut out = format!(
                    "{} waiting; {} sent and {} failed in the last hour",
                    s.outbox_depth, s.sent_last_hour, s.failed_last_hour
                );
                out.push_str(&format!("\nfailed ({}):", s.failed.len()));
                for m in &s.failed {
                    out.push_str(&format!("\n{}", line(m)));
                }
                out.push_str(&format!("\nwaiting ({}):", s.pending.len()));
                for m in &s.pending {
                    out.push_str(&format!("\n{}", line(m)));
                }
                out
            });
        }
        MailCommand::Retry { id } => {
            let m = admin::mail::retry_mail(&mut conn, &admin::operator(), id)?;
            print(json, &m, || {
                format!("mail {id} is due again now\n{}", line(&m))
            });
        }
        MailCommand::Discard { id } => {
            let m = admin::mail::discard_mail(&mut conn, &admin::operator(), id)?;
            print(json, &m, || {
                format!("mail {id} discarded; it will not be sent\n{}", line(&m))
            });
        }
    }
    Ok(())
}

fn connect(config: &Config) -> Result<DbConn, OperatorError> {
    crate::server::prepare_data_dir(config).map_err(OperatorError::Startup)?;
    let db = crate::server::open_database(config).map_err(OperatorError::Startup)?;
    Ok(db.get()?)
}

fn fingerprint(config: &Config) -> Result<String, OperatorError> {
    let mut conn = connect(config)?;
    Ok(Pki::open(config, &mut conn)?.fingerprint())
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
    let desk = match &t.desk {
        Some(name) => format!(" for desk {name:?}"),
        None => String::new(),
    };
    format!(
        "agency {} ({}) is active\nenrolment token{desk}: {}\n  (single use, expires {}; also emailed to {})\nCA fingerprint (SHA-256): {}",
        t.agency.id, t.agency.name, t.token, t.expires_at, t.agency.email, t.ca_fingerprint
    )
}

fn ms(ms: i64) -> String {
    crate::listings::ms_to_time(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `platform agency …`
pub fn agency(config: &Config, cmd: AgencyCommand, json: bool) -> Result<(), OperatorError> {
    let mut conn = connect(config)?;
    match cmd {
        AgencyCommand::Add {
            name,
            licence,
            email,
        } => {
            let fp = fingerprint(config)?;
            let t = admin::add_agency(
                &mut conn,
                &admin::operator(),
                config,
                &fp,
                &name,
                &licence,
                &email,
            )?;
            print(json, &t, || token_text(&t));
        }
        AgencyCommand::List { status } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(AgencyStatus::from_code(s).ok_or_else(|| {
                    OperatorError::Invalid(format!(
                        "--status {s}: use pending, active, rejected or suspended"
                    ))
                })?),
            };
            let list = admin::list_agencies(&mut conn, status)?;
            print(json, &list, || {
                let mut out = format!(
                    "{:>5}  {:<10} {:<16} {:<30} {:>4}  email",
                    "id", "status", "licence", "name", "live"
                );
                for a in &list {
                    out.push_str(&format!(
                        "\n{:>5}  {:<10} {:<16} {:<30} {:>4}  {}",
                        a.agency.id,
                        a.agency.status,
                        a.agency.licence,
                        a.agency.name,
                        a.live_certificates,
                        a.agency.email
                    ));
                }
                out
            });
        }
        AgencyCommand::Approve { id } => {
            let fp = fingerprint(config)?;
            let a = admin::approve_agency(&mut conn, &admin::operator(), config, &fp, id)?;
            print(json, &a, || match &a.token {
                Some(t) => token_text(t),
                None => format!(
                    "agency {} ({}) is active again; its certificates work again",
                    a.agency.id, a.agency.name
                ),
            });
        }
        AgencyCommand::Reject { id, reason } => {
            let a = admin::reject_agency(&mut conn, &admin::operator(), id, reason.as_deref())?;
            print(json, &a, || {
                format!(
                    "agency {} ({}) rejected; the applicant is told by email",
                    a.id, a.name
                )
            });
        }
        AgencyCommand::Suspend { id } => {
            let a = admin::suspend_agency(&mut conn, &admin::operator(), id)?;
            print(json, &a, || {
                format!(
                    "agency {} ({}) suspended; its requests are refused from now on",
                    a.id, a.name
                )
            });
        }
        AgencyCommand::Token { id, desk } => {
            let fp = fingerprint(config)?;
            let t = admin::new_desk_token(
                &mut conn,
                &admin::operator(),
                config,
                &fp,
                id,
                desk.as_deref(),
            )?;
            print(json, &t, || token_text(&t));
        }
        AgencyCommand::Show { id } => {
            let d = admin::agency_details(&mut conn, id)?;
            print(json, &d, || details_text(&d));
        }
    }
    Ok(())
}

fn details_text(d: &AgencyDetails) -> String {
    let a = &d.agency;
    let mut out = format!(
        "agency {} ({}), {}, licence {}, {}\n{} desk(s), {} live certificate(s)",
        a.id,
        a.name,
        a.status,
        a.licence,
        a.email,
        d.desks.len(),
        d.live_certificates
    );
    for desk in &d.desks {
        let name = match &desk.name {
            Some(name) => format!("{name:?} "),
            None => String::new(),
        };
        let vault = match &desk.vault {
            Some(v) => format!(", vault: {v}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "\n  desk {name}{} {}{vault} (enrolled {}, {} certificate(s) in all)",
            desk.lineage, desk.state, desk.enrolled_at, desk.certificates
        ));
        if desk.live.is_empty() {
            out.push_str("\n    no live certificate");
        }
        for cert in &desk.live {
            out.push_str(&format!(
                "\n    {}  valid until {}  {}",
                cert.serial,
                cert.not_after,
                match &cert.first_used_at {
                    Some(t) => format!("first used {t}"),
                    None => "not used yet".into(),
                }
            ));
        }
    }
    if d.unused_tokens.is_empty() {
        out.push_str("\nno unused enrolment token");
    }
    for t in &d.unused_tokens {
        let desk = match &t.desk {
            Some(name) => format!(" for desk {name:?}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "\nunused enrolment token #{}{desk} issued {}, expires {}",
            t.id, t.created_at, t.expires_at
        ));
    }
    out
}

/// Parses `--compromised-since`: RFC 3339, or a date (midnight UTC).
fn parse_since(text: &str) -> Result<i64, OperatorError> {
    let text = text.trim();
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc())
        })
        .map_err(|_| {
            OperatorError::Invalid(format!(
                "--compromised-since {text}: give a date (2026-11-30) or a time (2026-11-30T14:00:00Z)"
            ))
        })?;
    Ok(crate::listings::time_to_ms(t))
}

fn revocation_text(o: &RevocationOutcome) -> String {
    let Some(first) = o.certificates.first() else {
        return "nothing changed".into();
    };
    let c = &first.certificate;
    let reason = c.revocation_reason.as_deref().unwrap_or("unspecified");
    let mut out = match first.event {
        "reason_changed" => format!(
            "certificate {} was already revoked; its reason is now {reason}",
            c.serial
        ),
        _ => format!(
            "certificate {} revoked ({reason}); refused from the agency's next request",
            c.serial
        ),
    };
    if let Some(since) = c.compromised_since {
        out.push_str(&format!("; compromised since {}", ms(since)));
    }
    let cascaded = &o.certificates[1..];
    if !cascaded.is_empty() {
        out.push_str(&format!(
            "\n{} more certificate(s) of its family (renewed from it, or the same key):",
            cascaded.len()
        ));
        for m in cascaded {
            out.push_str(&format!(
                "\n  {}  {} ({}, from {})",
                m.certificate.serial,
                if m.event == "reason_changed" {
                    "reason raised"
                } else {
                    "revoked"
                },
                match m.cascade {
                    crate::pki::revocation::Cascade::SameKey => "same key",
                    _ => "renewal",
                },
                m.cascaded_from.as_deref().unwrap_or("-")
            ));
        }
    }
    if o.held_listings > 0 {
        out.push_str(&format!(
            "\n{} listing(s) held from search and alerts until the agency signs them again",
            o.held_listings
        ));
    }
    out
}

/// `platform cert …`
pub fn cert(config: &Config, cmd: CertCommand, json: bool) -> Result<(), OperatorError> {
    let mut conn = connect(config)?;
    match cmd {
        CertCommand::List { agency } => {
            let list = crate::with_conn!(&mut conn, |c| c.list_certificates(agency))?;
            print(json, &list, || {
                let mut out = format!(
                    "{:<34} {:<7} {:>6}  {:<8} {:<22} {:<24} {:<20} {:<34} subject",
                    "serial",
                    "kind",
                    "agency",
                    "status",
                    "reason",
                    "compromised since",
                    "not after",
                    "desk (lineage)"
                );
                for c in &list {
                    out.push_str(&format!(
                        "\n{:<34} {:<7} {:>6}  {:<8} {:<22} {:<24} {:<20} {:<34} {}",
                        c.serial,
                        c.kind,
                        c.agency_id
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        c.status,
                        c.revocation_reason.as_deref().unwrap_or("-"),
                        match (c.reason(), c.compromised_since) {
                            (_, Some(t)) => ms(t),
                            (Some(ca::RevocationReason::KeyCompromise), None) => "ever".into(),
                            _ => "-".into(),
                        },
                        ms(c.not_after),
                        c.lineage.as_deref().unwrap_or("-"),
                        c.subject
                    ));
                }
                out
            });
        }
        CertCommand::Revoke {
            serial,
            reason,
            compromised_since,
        } => {
            let reason: ca::RevocationReason = reason.parse().map_err(|_| {
                OperatorError::Invalid(format!(
                    "--reason {reason}: use one of unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation, privilege_withdrawn"
                ))
            })?;
            let compromised_since = compromised_since.as_deref().map(parse_since).transpose()?;
            if compromised_since.is_some() && reason != ca::RevocationReason::KeyCompromise {
                return Err(OperatorError::Invalid(
                    "--compromised-since goes only with --reason key_compromise".into(),
                ));
            }
            let outcome = admin::revoke_certificate(
                &mut conn,
                &admin::operator(),
                &serial,
                Revocation {
                    reason,
                    compromised_since,
                },
            )?;
            // The JSON keeps the certificate named at the top level (as before families) and
            // adds every certificate changed, the one named first, and the listings held.
            #[derive(Serialize)]
            struct Revoked<'a> {
                #[serde(flatten)]
                certificate: Option<&'a crate::pki::CertificateRow>,
                #[serde(flatten)]
                outcome: &'a RevocationOutcome,
            }
            let shown = Revoked {
                certificate: outcome.certificates.first().map(|m| &m.certificate),
                outcome: &outcome,
            };
            print(json, &shown, || revocation_text(&outcome));
        }
    }
    Ok(())
}

/// `platform listing …`
pub fn listing(config: &Config, cmd: ListingCommand, json: bool) -> Result<(), OperatorError> {
    let mut conn = connect(config)?;
    match cmd {
        ListingCommand::TakeDown { id, reason } => {
            let signer = Pki::open(config, &mut conn)?.platform_signer(&mut conn)?;
            let version =
                admin::take_down_listing(&mut conn, &admin::operator(), &signer, id, &reason)?;
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
        ListingCommand::Restore { id, reason } => {
            // The matcher of this command: every live saved search, read now.
            let matcher = crate::matching::live::LiveMatcher::new();
            crate::with_conn!(&mut conn, |c| matcher.rebuild(c, crate::db::now_ms()))?;
            let restored =
                admin::restore_listing(&mut conn, &admin::operator(), &matcher, id, &reason)?;
            print(json, &restored, || {
                format!(
                    "listing {id} restored ({}, version {}); {} saved searches told it is back",
                    restored.status,
                    restored.version,
                    restored.due.len()
                )
            });
        }
    }
    Ok(())
}

/// The export passphrase from PLATFORM_CA_EXPORT_PASSPHRASE, else asked on the terminal
/// (twice when `confirm`).
fn export_passphrase(confirm: bool) -> Result<String, OperatorError> {
    if let Ok(p) = std::env::var(crate::pki::custody::EXPORT_PASSPHRASE_ENV) {
        return Ok(p);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            OperatorError::Passphrase(format!(
                "a passphrase for the root key export is needed: set PLATFORM_CA_EXPORT_PASSPHRASE or run on a terminal ({e})"
            ))
        })
    };
    let first = ask("Root key export passphrase: ")?;
    if confirm && ask("Same passphrase again: ")? != first {
        return Err(OperatorError::Passphrase(
            "the two passphrases differ; nothing was written".into(),
        ));
    }
    Ok(first)
}

/// `platform ca …`
pub fn ca(config: &Config, cmd: CaCommand, json: bool) -> Result<(), OperatorError> {
    use crate::pki::ca_commands as ops;
    let mut conn = connect(config)?;
    match cmd {
        CaCommand::Status => {
            let s = ops::status(config, &mut conn)?;
            print(json, &s, || ca_status_text(&s));
        }
        CaCommand::ExportRoot { out } => {
            let passphrase = zeroize::Zeroizing::new(export_passphrase(true)?);
            let e = ops::export_root(config, &mut conn, &out, &passphrase)?;
            print(json, &e, || {
                format!(
                    "root key of {} exported to {} ({}); keep the file and its passphrase offline, apart",
                    e.root_fingerprint,
                    e.file.display(),
                    e.key_protection
                )
            });
        }
        CaCommand::RemoveRoot { yes } => {
            let r = ops::remove_root(config, &mut conn, yes)?;
            print(json, &r, || {
                format!(
                    "root key removed from {}; the root is offline (export of {}); the platform keeps issuing with the issuing CA\nthe root's CRL was signed again: sign it with the export before {} (platform ca sign-root-crl --root-key FILE)",
                    r.removed.display(),
                    r.exported_at,
                    r.root_crl_next_update
                )
            });
        }
        CaCommand::Rollover { root_key } => {
            let root = read_root_key(&root_key)?;
            let r = ops::rollover(config, &mut conn, &root)?;
            print(json, &r, || {
                format!(
                    "new issuing CA {} ({}, until {}); the retired one {} keeps validating the certificates it issued
root CRL signed again (number {})
restart the platform (on every node, after copying DATA_DIR/ca) to issue from the new CA",
                    r.issuing, r.subject, r.not_after, r.retired, r.root_crl_number
                )
            });
        }
        CaCommand::SignRootCrl { root_key } => {
            let root = root_key.as_deref().map(read_root_key).transpose()?;
            let r = ops::sign_root_crl(config, &mut conn, root.as_ref())?;
            print(json, &r, || {
                format!(
                    "root CRL signed (number {}, valid until {})",
                    r.crl_number, r.next_update
                )
            });
        }
        CaCommand::EncryptKeys => {
            let passphrase = crate::pki::custody::passphrase_from_env().ok_or_else(|| {
                OperatorError::Passphrase(
                    "set PLATFORM_CA_PASSPHRASE to the passphrase that is to encrypt the CA keys (the platform then needs it at every start)".into(),
                )
            })?;
            let passphrase = zeroize::Zeroizing::new(passphrase);
            let k = ops::encrypt_keys(config, &mut conn, &passphrase)?;
            print(json, &k, || {
                let mut out = format!("{} CA key file(s) {}:", k.files.len(), k.key_protection);
                for f in &k.files {
                    out.push_str(&format!("\n  {}", f.display()));
                }
                out.push_str("\nstart the platform with PLATFORM_CA_PASSPHRASE set");
                out
            });
        }
    }
    Ok(())
}

fn read_root_key(file: &std::path::Path) -> Result<ca::custody::RootKey, OperatorError> {
    use crate::pki::ca_commands as ops;
    let passphrase = if ops::root_key_file_encrypted(file)? {
        Some(zeroize::Zeroizing::new(export_passphrase(false)?))
    } else {
        None
    };
    Ok(ops::read_root_key(
        file,
        passphrase.as_deref().map(|p| p.as_str()),
    )?)
}

fn ca_status_text(s: &crate::pki::ca_commands::CaStatus) -> String {
    let mut out = format!("CA directory {}", s.directory.display());
    if let Some(problem) = &s.problem {
        out.push_str(&format!("\nPROBLEM: {problem}"));
    }
    for c in &s.certificates {
        out.push_str(&format!(
            "\n{} CA ({}) {}\n  fingerprint {}\n  valid {} .. {} ({} days left)\n  key {}{}",
            c.role,
            c.status,
            c.subject,
            c.fingerprint,
            c.not_before,
            c.not_after,
            c.days_left,
            c.key,
            c.key_protection
                .as_ref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default()
        ));
        if let Some(at) = &c.exported_at {
            out.push_str(&format!("\n  exported {at}"));
        }
    }
    if let Some(server) = &s.server {
        out.push_str(&format!(
            "\nserver certificate {} valid until {} ({} days left)",
            server.serial, server.not_after, server.days_left
        ));
    }
    for c in &s.crls {
        out.push_str(&format!(
            "\n{} CRL number {} of {} (this update {}, next update {})",
            c.ca, c.crl_number, c.issuer_fingerprint, c.this_update, c.next_update
        ));
    }
    for w in &s.warnings {
        out.push_str(&format!("\nWARNING: {w}"));
    }
    out
}

/// `platform audit`
pub fn audit(
    config: &Config,
    action: Option<String>,
    limit: i64,
    json: bool,
) -> Result<(), OperatorError> {
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
