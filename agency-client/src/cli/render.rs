//! What the command line prints: every command's result as one JSON document (`--json`) and as
//! plain text, and errors as a line on stderr (with `--json`, also `{"error": {...}}` on stdout).
//! The commands in [`super::commands`] hand their results here and print nothing themselves
//! (progress and notices on stderr excepted).

use std::io::{self, Write};

use api_types::api::{AgencySavedSearch, ChangesCount};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::conflicts::{Keep, ListingConflict, Resolution};
use crate::customers::{Customer, Hint, Removed};
use crate::error::ClientError;
use crate::feed::{PullReport, PullWarningKind};
use crate::identity::CertificateStatus;
use crate::listings::{DrainReport, OwnListing, Resigning};
use crate::search::{Found, RemoteSearchResult, SavedQuery, SearchResult};

/// What a command printed: JSON and text forms.
#[derive(Debug)]
pub struct Output {
    /// The `--json` form.
    pub json: Value,
    /// The plain-text form.
    pub text: String,
    /// The exit status: 0, or [`EXIT_CONFLICT`] when a change met a newer version.
    pub exit: i32,
}

/// Exit status of `publish`, `sync` and `listing resolve` when a change of an own listing met a
/// newer version another desk published: the command did its work, the listing is in conflict
/// (`listing conflicts`).
pub const EXIT_CONFLICT: i32 = 4;

fn out(json: Value, text: impl Into<String>) -> Output {
    Output {
        json,
        text: text.into(),
        exit: 0,
    }
}

/// `output`, exiting with [`EXIT_CONFLICT`] when `report` met a conflict.
fn conflict_exit(mut output: Output, report: &DrainReport) -> Output {
    if !report.conflicts.is_empty() {
        output.exit = EXIT_CONFLICT;
    }
    output
}

/// Prints a command's result: the JSON document with `json`, else the text (when there is any).
/// A reader that went away (`agency-client search --history | head -0`) is an `Err` of kind
/// `BrokenPipe`, for [`super::main`] to end on quietly; printing never panics.
pub fn print(output: &Output, json: bool) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    if json {
        writeln!(stdout, "{}", output.json)?;
    } else if !output.text.is_empty() {
        writeln!(stdout, "{}", output.text)?;
    }
    stdout.flush()
}

/// Prints a failure: one line on stderr, and with `json` the error document on stdout.
pub fn print_error(e: &ClientError, json: bool) -> io::Result<()> {
    print_error_parts(&e.to_string(), e.code(), e.field(), json)
}

/// Prints a failure given by its parts (the message, the `--json` code and field): what
/// [`print_error`] prints, also for command lines that clap refused (code `usage`).
pub fn print_error_parts(
    message: &str,
    code: &str,
    field: Option<&str>,
    json: bool,
) -> io::Result<()> {
    // stderr may be closed too; the exit status still tells.
    let _ = writeln!(io::stderr().lock(), "error: {message}");
    if json {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "{}",
            json!({"error": {"code": code, "message": message, "field": field}})
        )?;
        stdout.flush()?;
    }
    Ok(())
}

/// The window was closed (`gui`).
pub fn window_closed() -> Output {
    out(json!({"closed": true}), "")
}

/// `enroll`: the new certificate, and what was signed anew after a key compromise (or why that
/// has to wait for `sync`).
pub fn enrolled(
    status: &CertificateStatus,
    resigned: Result<(Resigning, DrainReport), ClientError>,
) -> Output {
    let mut text = format!(
        "enrolled as agency {} ({}); certificate {} valid until {} ({} days)",
        status.agency_id, status.agency_name, status.serial, status.not_after, status.days_left
    );
    let (resigning, note) = match resigned {
        Ok((resigning, sent)) => {
            if let Some(note) = resigning.text() {
                text += &format!("\n{note}\n{}", drain_text(&sent));
            }
            (Some(resigning), None)
        }
        Err(e) => {
            let note = format!(
                "listings signed with a compromised key could not be signed anew yet ({e}); `agency-client sync` does it"
            );
            text += &format!("\n{note}");
            (None, Some(note))
        }
    };
    let mut json = json!(status);
    json["resigning"] = json!(resigning);
    if let Some(note) = note {
        json["resigning_problem"] = json!(note);
    }
    out(json, text)
}

/// `cert`: the certificate's status; `renewed` when renewed by this run, `offline` when the
/// platform could not say (why, in words).
pub fn certificate(status: &CertificateStatus, renewed: bool, offline: Option<String>) -> Output {
    let mut text = format!(
        "agency {} ({}); certificate {} valid until {} ({} days left){}{}\nroot CA {}\nendpoints: {}",
        status.agency_id,
        status.agency_name,
        status.serial,
        status.not_after,
        status.days_left,
        if status.renewal_due && status.revoked.is_none() {
            "; renewal due"
        } else {
            ""
        },
        if renewed { "; renewed now" } else { "" },
        status.root_fingerprint,
        status.endpoints.join(", ")
    );
    if let Some(r) = &status.revoked {
        text = format!(
            "REVOKED: the platform refuses this certificate (learned {}): {}\n\
             Ask the platform operator for a new enrolment token and run `agency-client enroll` again; \
             your listings and customers stay on this desk.\n{text}",
            r.learned_at, r.note
        );
    }
    if let Some(note) = offline {
        text += &format!("\n({note})");
    }
    out(json!(status), text)
}

/// One own listing, as changed by a `listing` command.
pub fn own_listing(l: &OwnListing) -> Output {
    out(json!(l), listing_line(l))
}

/// `listing list`.
pub fn own_listings(all: &[OwnListing]) -> Output {
    let text = all.iter().map(listing_line).collect::<Vec<_>>().join("\n");
    out(json!(all), text)
}

/// `publish`: what was queued and sent, and what was signed anew.
pub fn published(queued: &[String], resigning: &Resigning, report: &DrainReport) -> Output {
    let mut text = format!("queued {}\n{}", queued.len(), drain_text(report));
    if let Some(note) = resigning.text() {
        text = format!("{note}\n{text}");
    }
    conflict_exit(
        out(
            json!({"queued": queued, "resigning": resigning, "report": report}),
            text,
        ),
        report,
    )
}

/// `sync`: what was sent, what was signed anew, and what was pulled.
pub fn synced(resigning: &Resigning, sent: &DrainReport, pulled: &PullReport) -> Output {
    let mut text = format!("{}\n{}", drain_text(sent), pulled_text(pulled));
    if let Some(note) = resigning.text() {
        text = format!("{note}\n{text}");
    }
    conflict_exit(
        out(
            json!({"resigning": resigning, "sent": sent, "pulled": pulled}),
            text,
        ),
        sent,
    )
}

/// Adds what pulling enquiries did to `sync`'s output (`enquiries` in JSON, a line of text). A
/// failure is reported there and does not undo the rest of the sync.
pub fn add_enquiries(
    output: &mut Output,
    result: &Result<crate::enquiries::EnquiryReport, ClientError>,
) {
    let (json, text) = match result {
        Ok(r) => (
            json!(r),
            if r.customers.is_empty() {
                "enquiries: 0 new lead(s)".to_owned()
            } else {
                format!(
                    "enquiries: {} new lead(s) (customer {})",
                    r.leads,
                    r.customers
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        Err(e) => (
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
            format!("enquiries: not pulled: {e}"),
        ),
    };
    if let Some(object) = output.json.as_object_mut() {
        object.insert("enquiries".into(), json);
    }
    if !output.text.is_empty() {
        output.text.push('\n');
    }
    output.text.push_str(&text);
}

/// `listing conflicts`: each listing in conflict, this desk's version beside the platform's.
pub fn conflicts(all: &[ListingConflict]) -> Output {
    let text = if all.is_empty() {
        "no listing is in conflict".to_owned()
    } else {
        all.iter()
            .map(conflict_text)
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    out(json!(all), text)
}

fn conflict_text(c: &ListingConflict) -> String {
    let side = |d: &api_types::ListingDocument| {
        format!(
            "{} {} {} {}, {} ({}), modified {}",
            d.standard_status.code(),
            d.list_price,
            d.currency,
            d.city,
            d.title,
            d.transaction_type.code(),
            d.modification_timestamp
                .format(&Rfc3339)
                .unwrap_or_default()
        )
    };
    let base = c.base_version.map_or("a first publish".to_owned(), |v| {
        format!("made on version {v}")
    });
    let theirs = match &c.theirs {
        Some(t) => format!(
            "  theirs (platform version {}): {}  [{}]",
            t.version,
            side(&t.document),
            t.signature.text()
        ),
        None => "  theirs: the platform has no listing under this key".to_owned(),
    };
    format!(
        "{} in conflict: this desk's {} ({base}) met a newer version\n  mine: {}\n{theirs}\n  resolve: agency-client listing resolve {} --keep mine|theirs",
        c.listing_key,
        c.action,
        side(&c.mine),
        c.listing_key
    )
}

/// `listing resolve`: what was kept, and what sending it did.
pub fn resolved(r: &Resolution, sent: Option<&DrainReport>) -> Output {
    let mut text = match r.kept {
        Keep::Theirs => format!(
            "{}: kept the platform's version {} (now this desk's copy)",
            r.listing_key,
            r.version.map_or("-".into(), |v| v.to_string())
        ),
        Keep::Mine => format!(
            "{}: kept this desk's version, queued to {} on top of platform version {}",
            r.listing_key,
            r.queued.as_deref().unwrap_or("publish"),
            r.version.map_or("none".into(), |v| v.to_string())
        ),
    };
    if let Some(report) = sent {
        text += &format!("\n{}", drain_text(report));
    }
    let output = out(json!({"resolution": r, "sent": sent}), text);
    match sent {
        Some(report) => conflict_exit(output, report),
        None => output,
    }
}

/// `updates`: what waits on the platform, and how many own changes wait here.
pub fn updates(count: &ChangesCount, queued: usize) -> Output {
    out(
        json!({"count": count.count, "after": count.after, "latest": count.latest, "queued": queued}),
        format!(
            "{} updates available; {queued} own change(s) queued",
            count.count
        ),
    )
}

/// `search`, here.
pub fn search(r: &SearchResult) -> Output {
    let text = format!(
        "{} listing(s) match {} (search #{}){}",
        r.total,
        r.summary,
        r.query_id,
        found_lines(&r.listings)
    );
    out(json!(r), text)
}

/// `search --remote`.
pub fn remote_search(r: &RemoteSearchResult) -> Output {
    let mut text = format!(
        "{}{} listing(s) on the platform match {} (search #{}; page {}{})",
        r.total,
        if r.total_capped { "+" } else { "" },
        r.summary,
        r.query_id,
        r.page,
        if r.has_more {
            format!(", next: --page {}", r.page + 1)
        } else {
            String::new()
        }
    );
    if r.invalid > 0 {
        text += &format!(
            "\nWARNING: {} listing(s) below failed their agency's signature check; do not trust them",
            r.invalid
        );
    }
    let text = text + &found_lines(&r.listings);
    out(json!(r), text)
}

/// `search --history`.
pub fn search_history(past: &[SavedQuery]) -> Output {
    let text = past
        .iter()
        .map(|q| {
            format!(
                "#{} {} ({} hits here{}, run {} times)",
                q.id,
                q.summary,
                q.last_result_count,
                q.last_remote_total
                    .map(|n| format!(", {n} on the platform"))
                    .unwrap_or_default(),
                q.run_count
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out(json!(past), text)
}

/// One customer, as changed by a `customer` command.
pub fn customer(c: &Customer) -> Output {
    out(json!(c), customer_line(c))
}

/// `customer list`.
pub fn customers(all: &[Customer]) -> Output {
    let text = all.iter().map(customer_line).collect::<Vec<_>>().join("\n");
    out(json!(all), text)
}

/// `customer remove`: who went with how many hints; `watch_id` is the saved search that watched
/// them before, said to be left on the platform unless it was deleted.
pub fn customer_removed(removed: &Removed, watch_id: Option<i64>) -> Output {
    let id = removed.customer.id;
    let mut text = format!(
        "removed {} {} (customer {id}) and {} hint(s) from this desk",
        removed.customer.kind, removed.customer.name, removed.hints
    );
    match (removed.unwatched, watch_id) {
        (Some(w), _) => text += &format!("; saved search {w} deleted on the platform"),
        (None, Some(w)) => {
            text += &format!(
                "; saved search {w} is left on the platform (`customer unwatch {w}` deletes it)"
            )
        }
        (None, None) => {}
    }
    out(json!(removed), text)
}

/// `customer watch`: the platform knows the tenant only by the handle.
pub fn watching(saved: &AgencySavedSearch, customer: &Customer) -> Output {
    out(
        json!(saved),
        format!(
            "watching {} (customer {}) on the platform as saved search {} \"{}\" until {}",
            customer.name,
            customer.id,
            saved.id,
            saved.name,
            rfc3339(saved.expires_at)
        ),
    )
}

/// `customer watched`: each saved search with the tenant this desk knows behind its handle.
pub fn watched(all: &[AgencySavedSearch], customers: &[Customer]) -> Output {
    let tenant = |s: &AgencySavedSearch| {
        customers
            .iter()
            .find(|c| c.watch_id == Some(s.id) || c.watch_handle.as_deref() == Some(&s.name))
            .map(|c| format!(": {} (customer {})", c.name, c.id))
            .unwrap_or_default()
    };
    let text = all
        .iter()
        .map(|s| {
            format!(
                "#{} {} (until {}){}",
                s.id,
                s.name,
                rfc3339(s.expires_at),
                tenant(s)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out(json!(all), text)
}

/// `customer unwatch`.
pub fn unwatched(platform_id: i64) -> Output {
    out(
        json!({"deleted": platform_id}),
        format!("saved search {platform_id} deleted on the platform"),
    )
}

/// `hints`.
pub fn hints(hints: &[Hint]) -> Output {
    let text = if hints.is_empty() {
        "no hints".to_owned()
    } else {
        hints
            .iter()
            .map(|h| {
                format!(
                    "#{} {} ({}): {}/{} {} {} {}",
                    h.id,
                    h.customer_name,
                    h.state,
                    h.office_key,
                    h.listing_key,
                    h.price,
                    h.city,
                    h.title
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    out(json!(hints), text)
}

/// `hints --dismiss`.
pub fn hint_dismissed(id: i32) -> Output {
    out(
        json!({"dismissed": id}),
        format!("hint {id} marked unsuitable; it will not be raised again"),
    )
}

/// A time as the text forms print it: RFC 3339 (`2027-01-01T03:39:33.349Z`), as in the JSON
/// documents, never `time`'s own `Display` (`2027-01-01 3:39:33.349 +00:00:00`).
fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn listing_line(l: &OwnListing) -> String {
    format!(
        "{:<16} {:<10} {:>12} {} {:<14} {}{}",
        l.listing_key,
        l.state,
        l.document.list_price,
        l.document.currency,
        l.document.city,
        l.document.title,
        l.last_error
            .as_deref()
            .map(|e| format!("  [refused: {e}]"))
            .unwrap_or_default()
    )
}

fn customer_line(c: &Customer) -> String {
    match &c.wishes {
        Some(w) => format!(
            "#{} tenant {} <{}>: {} ({} open hints){}",
            c.id,
            c.name,
            c.contact,
            w.summary(),
            c.open_hints,
            match (c.watch_id, &c.watch_handle) {
                (Some(id), Some(h)) =>
                    format!("; watched on the platform as saved search {id} \"{h}\""),
                (Some(id), None) => format!("; watched on the platform as saved search {id}"),
                _ => String::new(),
            }
        ),
        None => format!(
            "#{} owner {} <{}>: {}",
            c.id,
            c.name,
            c.contact,
            c.listing_keys.join(", ")
        ),
    }
}

fn drain_text(r: &DrainReport) -> String {
    let mut text = String::new();
    for s in &r.sent {
        text += &format!("sent {} {}: {}\n", s.action, s.listing_key, s.outcome);
    }
    for s in &r.rejected {
        text += &format!("REFUSED {} {}: {}\n", s.action, s.listing_key, s.outcome);
    }
    for s in &r.conflicts {
        text += &format!(
            "CONFLICT {} {}: {}; nothing was overwritten: see `agency-client listing conflicts {}`, then `listing resolve {} --keep mine|theirs`\n",
            s.action, s.listing_key, s.outcome, s.listing_key, s.listing_key
        );
    }
    text += &format!("{} change(s) still queued", r.remaining);
    text
}

fn found_lines(listings: &[Found]) -> String {
    let mut text = String::new();
    for f in listings {
        text += &format!(
            "\n  {}/{}  {} {}  {}  {}  [{}]",
            f.office_name,
            f.listing.listing_key,
            f.listing.list_price,
            f.listing.currency,
            f.listing.city,
            f.listing.title,
            f.signature.text()
        );
        if let Some(problem) = &f.removal_refused {
            text += &format!("  [the platform says it is gone, but {problem}]");
        }
    }
    text
}

fn pulled_text(p: &PullReport) -> String {
    let mut text = String::new();
    for serial in &p.compromised {
        text += &format!(
            "NOTICE: the platform announced that certificate {serial} was revoked because its key was compromised; the listings it signed were checked again\n"
        );
    }
    text += &format!(
        "pulled {} update(s): {} listing(s) new or changed, {} gone; {} new hint(s); {} signature(s) verified",
        p.events, p.upserted, p.removed, p.new_hints, p.verified
    );
    if p.unchecked > 0 {
        text += &format!(
            "; {} not checked (checked again at the next sync)",
            p.unchecked
        );
    }
    for w in p.warnings() {
        let (office, key, problem) = (w.office_key, w.listing_key, w.problem);
        text += &match w.kind {
            PullWarningKind::InvalidSignature => format!(
                "\nWARNING: listing {office}/{key} has an INVALID SIGNATURE ({problem}); it is kept flagged and gives no hints"
            ),
            PullWarningKind::RefusedRemoval => format!(
                "\nWARNING: the platform says listing {office}/{key} is gone, but {problem}"
            ),
            PullWarningKind::RefusedRollback => {
                format!("\nWARNING: listing {office}/{key}: {problem}")
            }
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc_3339() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_798_774_773_349_000_000).unwrap();
        assert_eq!(rfc3339(t), "2027-01-01T03:39:33.349Z");
    }
}
