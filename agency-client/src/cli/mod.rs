//! The command line. Every command prints plain text, or one JSON document with `--json`;
//! errors go to stderr in plain words (and, with `--json`, as `{"error": {...}}` on stdout).
//! Exit status: 0 done, 1 failed, 3 the platform could not be reached (work stays queued).

use std::path::PathBuf;

use api_types::search::SearchCriteria;
use api_types::{ListingDocument, MediaItem, PropertyType, StandardStatus, TransactionType};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::db::Store;
use crate::error::ClientError;
use crate::identity::{self, Session};
use crate::{customers, feed, listings, search};

/// The agency desk program: listings, customers, sync with the listing exchange.
#[derive(Debug, Parser)]
#[command(name = "agency-client", version, about)]
pub struct Cli {
    /// Where the desk database lives (default: the per-user data directory).
    #[arg(long, global = true, env = "AGENCY_CLIENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Platform endpoint `https://host:port`; repeat for failover. Given, it replaces the stored
    /// list (enrolment stores it).
    #[arg(long = "server", global = true, value_name = "URL")]
    pub servers: Vec<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enrol this desk with a one-time token and the CA fingerprint the operator gave you.
    Enroll {
        /// The enrolment token (it may start with '-').
        #[arg(long, allow_hyphen_values = true)]
        token: String,
        /// SHA-256 fingerprint of the platform's root CA (AB:CD:… or 64 hex digits).
        #[arg(long)]
        fingerprint: String,
        /// Allow a token of another agency than the one this desk is enrolled with (asks for
        /// confirmation; the former agency's own listings leave this desk).
        #[arg(long)]
        switch_agency: bool,
        /// Confirm --switch-agency without asking (for scripts).
        #[arg(long, requires = "switch_agency")]
        yes: bool,
    },
    /// Own listings.
    #[command(subcommand)]
    Listing(ListingCommand),
    /// Queue local changes (all, or the listed keys) and send the queue.
    Publish {
        /// Listing keys; all changed listings when none.
        keys: Vec<String>,
    },
    /// Send queued changes, then pull everyone's listings.
    Sync,
    /// How many updates wait on the platform.
    Updates,
    /// Search all pulled listings; each search is kept.
    Search(SearchArgs),
    /// Owners and tenants.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Listings that fit a tenant's wishes.
    Hints {
        /// Also show hints marked unsuitable.
        #[arg(long)]
        all: bool,
        /// Mark hint ID unsuitable (never hinted again).
        #[arg(long, value_name = "ID")]
        dismiss: Option<i32>,
    },
    /// Open the desktop window (listings, customers, hints, sync, certificate).
    Gui {
        /// The view to open first: listings, customers, hints, sync or certificate.
        #[arg(long, default_value = "listings")]
        view: String,
    },
    /// The desk's certificate.
    Cert {
        /// `status` (default) or `renew`.
        #[command(subcommand)]
        action: Option<CertCommand>,
    },
}

/// `cert` actions.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show serial, expiry, endpoints.
    Status,
    /// Renew now (otherwise automatic when a third of its life is left).
    Renew,
}

/// `listing` actions.
#[derive(Debug, Subcommand)]
pub enum ListingCommand {
    /// Add a draft, from `--file doc.json` (RESO names) or from the options.
    Add(ListingFields),
    /// Change fields of a listing.
    Edit(ListingFields),
    /// Set the market status (active, under_offer, sold, rented).
    Status {
        /// Listing key.
        key: String,
        /// New status.
        status: String,
    },
    /// Withdraw a listing from the market (queued for the platform).
    Withdraw {
        /// Listing key.
        key: String,
    },
    /// List own listings with their state.
    List,
}

/// Listing fields as options.
#[derive(Debug, Args)]
pub struct ListingFields {
    /// ListingKey.
    #[arg(long)]
    pub key: Option<String>,
    /// A whole ListingDocument as JSON (RESO names); other options override its fields.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// TransactionType: sale or rent.
    #[arg(long = "type")]
    pub transaction_type: Option<String>,
    /// PropertyType: apartment, house, townhouse, land, commercial, parking, room, other.
    #[arg(long)]
    pub property: Option<String>,
    /// City.
    #[arg(long)]
    pub city: Option<String>,
    /// District.
    #[arg(long)]
    pub district: Option<String>,
    /// PostalCode.
    #[arg(long)]
    pub postal_code: Option<String>,
    /// UnparsedAddress.
    #[arg(long)]
    pub address: Option<String>,
    /// ListPrice (sale price or monthly rent, whole units).
    #[arg(long)]
    pub price: Option<u64>,
    /// Currency (ISO 4217).
    #[arg(long)]
    pub currency: Option<String>,
    /// LivingArea in m².
    #[arg(long)]
    pub area: Option<f64>,
    /// RoomsTotal.
    #[arg(long)]
    pub rooms: Option<u32>,
    /// BedroomsTotal.
    #[arg(long)]
    pub bedrooms: Option<u32>,
    /// BathroomsTotalInteger.
    #[arg(long)]
    pub bathrooms: Option<u32>,
    /// Title.
    #[arg(long)]
    pub title: Option<String>,
    /// PublicRemarks.
    #[arg(long)]
    pub remarks: Option<String>,
    /// Media URL; repeat for several (replaces the photos).
    #[arg(long = "photo")]
    pub photos: Vec<String>,
}

/// Search criteria as options.
#[derive(Debug, Args, Default)]
pub struct CriteriaArgs {
    /// sale or rent.
    #[arg(long = "type")]
    pub transaction_type: Option<String>,
    /// City.
    #[arg(long)]
    pub city: Option<String>,
    /// District.
    #[arg(long)]
    pub district: Option<String>,
    /// Property type; repeat for several.
    #[arg(long = "property")]
    pub property_types: Vec<String>,
    /// Lowest price.
    #[arg(long)]
    pub min_price: Option<u64>,
    /// Highest price.
    #[arg(long)]
    pub max_price: Option<u64>,
    /// Smallest living area, m².
    #[arg(long)]
    pub min_area: Option<f64>,
    /// Largest living area, m².
    #[arg(long)]
    pub max_area: Option<f64>,
    /// Fewest bedrooms.
    #[arg(long)]
    pub min_bedrooms: Option<u32>,
    /// Word that must appear in title or description; repeat for several.
    #[arg(long = "keyword")]
    pub keywords: Vec<String>,
}

/// `search` options.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The criteria.
    #[command(flatten)]
    pub criteria: CriteriaArgs,
    /// Most listings to show (with --remote: the page size, 1 to 100).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// List past searches instead.
    #[arg(long)]
    pub history: bool,
    /// Run past search ID again.
    #[arg(long, value_name = "ID")]
    pub rerun: Option<i32>,
    /// Search every agency's active listings on the platform instead of the pulled ones here
    /// (needs the key; each result's agency signature is checked).
    #[arg(long)]
    pub remote: bool,
    /// With --remote: newest, price_asc or price_desc (here, results are cheapest first).
    #[arg(long)]
    pub sort: Option<String>,
    /// With --remote: the page to show, from 1.
    #[arg(long)]
    pub page: Option<u32>,
}

impl SearchArgs {
    /// The page of a remote search these options ask for; refuses remote-only options without
    /// `--remote` and `--remote` with `--history`.
    fn remote_page(&self) -> Result<Option<search::RemotePage>, ClientError> {
        if !self.remote {
            if self.sort.is_some() {
                return Err(ClientError::input(
                    "--sort",
                    "only a search on the platform (--remote) can be sorted; results here are cheapest first",
                ));
            }
            if self.page.is_some() {
                return Err(ClientError::input(
                    "--page",
                    "only a search on the platform (--remote) has pages; use --limit here",
                ));
            }
            return Ok(None);
        }
        if self.history {
            return Err(ClientError::input(
                "--history",
                "past searches are kept on this desk; list them without --remote",
            ));
        }
        let sort = match self.sort.as_deref() {
            None => api_types::api::SearchSort::Newest,
            Some(s) => api_types::api::SearchSort::from_code(s).ok_or_else(|| {
                ClientError::input(
                    "--sort",
                    format!("has no value {s:?}; use newest, price_asc or price_desc"),
                )
            })?,
        };
        search::RemotePage {
            sort,
            page: self.page.unwrap_or(1),
            per_page: u32::try_from(self.limit).unwrap_or(u32::MAX),
        }
        .check()
        .map(Some)
    }
}

/// `customer` actions.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Add an owner of own listings.
    AddOwner {
        /// Name.
        #[arg(long)]
        name: String,
        /// Phone or email.
        #[arg(long, default_value = "")]
        contact: String,
        /// Own listing key; repeat for several.
        #[arg(long = "listing")]
        listings: Vec<String>,
    },
    /// Add a tenant or buyer with wishes.
    AddTenant {
        /// Name.
        #[arg(long)]
        name: String,
        /// Phone or email.
        #[arg(long, default_value = "")]
        contact: String,
        /// The wishes.
        #[command(flatten)]
        wishes: CriteriaArgs,
    },
    /// Replace a tenant's wishes.
    Wishes {
        /// Customer id.
        id: i32,
        /// The new wishes.
        #[command(flatten)]
        wishes: CriteriaArgs,
    },
    /// Change a customer's name, contact or (owners) linked own listings; what is not given
    /// stays.
    Edit {
        /// Customer id (see `customer list`).
        id: i32,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New phone or email ("" clears it).
        #[arg(long)]
        contact: Option<String>,
        /// An owner's own listing keys, comma-separated, replacing the linked ones ("" unlinks
        /// all).
        #[arg(long, value_name = "K1,K2")]
        listings: Option<String>,
    },
    /// Remove a customer with their hints and marks from this desk. A tenant watched on the
    /// platform has that saved search deleted first (needs the platform; if it cannot be
    /// reached nothing is removed).
    Remove {
        /// Customer id (see `customer list`).
        id: i32,
        /// Remove from this desk only, leaving a watched tenant's saved search on the platform
        /// (it expires within 30 days; `customer unwatch` deletes it).
        #[arg(long)]
        local_only: bool,
    },
    /// List customers.
    List,
    /// Keep a tenant's wishes on the platform as a saved search, so matches from every agency
    /// reach the agency's email while this desk is off (30 days, renew with `watch` again).
    Watch {
        /// Customer id (a tenant or buyer with wishes).
        id: i32,
    },
    /// The agency's saved searches on the platform.
    Watched,
    /// Stop watching: delete a saved search on the platform.
    Unwatch {
        /// The platform's saved-search id (see `customer watched`).
        platform_id: i64,
    },
}

fn parse_code<T>(field: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T, ClientError> {
    parse(value).ok_or_else(|| ClientError::InvalidListing {
        field: field.into(),
        message: format!("has no value {value:?}"),
    })
}

impl CriteriaArgs {
    /// The criteria these options describe.
    pub fn to_criteria(&self) -> Result<SearchCriteria, ClientError> {
        let input =
            |field: &str, value: &str| ClientError::input(field, format!("has no value {value:?}"));
        Ok(SearchCriteria {
            transaction_type: match &self.transaction_type {
                Some(t) => Some(TransactionType::from_code(t).ok_or_else(|| input("--type", t))?),
                None => None,
            },
            city: self.city.clone(),
            district: self.district.clone(),
            property_types: self
                .property_types
                .iter()
                .map(|p| PropertyType::from_code(p).ok_or_else(|| input("--property", p)))
                .collect::<Result<_, _>>()?,
            min_price: self.min_price,
            max_price: self.max_price,
            min_living_area: self.min_area,
            max_living_area: self.max_area,
            min_bedrooms: self.min_bedrooms,
            keywords: self.keywords.clone(),
        })
    }
}

impl ListingFields {
    /// Applies the given options to `doc`.
    fn apply(&self, doc: &mut ListingDocument) -> Result<(), ClientError> {
        if let Some(t) = &self.transaction_type {
            doc.transaction_type = parse_code("TransactionType", t, TransactionType::from_code)?;
        }
        if let Some(p) = &self.property {
            doc.property_type = parse_code("PropertyType", p, PropertyType::from_code)?;
        }
        if let Some(v) = &self.city {
            doc.city = v.clone();
        }
        if let Some(v) = &self.district {
            doc.district = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = &self.postal_code {
            doc.postal_code = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = &self.address {
            doc.unparsed_address = Some(v.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = self.price {
            doc.list_price = v;
        }
        if let Some(v) = &self.currency {
            doc.currency = v.clone();
        }
        if self.area.is_some() {
            doc.living_area = self.area;
        }
        if self.rooms.is_some() {
            doc.rooms_total = self.rooms;
        }
        if self.bedrooms.is_some() {
            doc.bedrooms_total = self.bedrooms;
        }
        if self.bathrooms.is_some() {
            doc.bathrooms_total_integer = self.bathrooms;
        }
        if let Some(v) = &self.title {
            doc.title = v.clone();
        }
        if let Some(v) = &self.remarks {
            doc.public_remarks = v.clone();
        }
        if !self.photos.is_empty() {
            doc.media = self
                .photos
                .iter()
                .map(|u| MediaItem {
                    media_url: u.clone(),
                })
                .collect();
        }
        Ok(())
    }

    /// A new document from `--file` and/or the options; required fields must be given.
    fn to_new_document(&self) -> Result<ListingDocument, ClientError> {
        let mut doc = match &self.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ClientError::input("--file", format!("cannot read {}: {e}", path.display()))
                })?;
                listings::parse_document(&text)?
            }
            None => {
                let missing = |field: &str, flag: &str| ClientError::InvalidListing {
                    field: field.into(),
                    message: format!("is required (give {flag})"),
                };
                let key = self
                    .key
                    .clone()
                    .ok_or_else(|| missing("ListingKey", "--key"))?;
                let transaction_type = self
                    .transaction_type
                    .as_deref()
                    .ok_or_else(|| missing("TransactionType", "--type sale|rent"))?;
                let property = self
                    .property
                    .as_deref()
                    .ok_or_else(|| missing("PropertyType", "--property"))?;
                ListingDocument {
                    listing_key: key,
                    transaction_type: parse_code(
                        "TransactionType",
                        transaction_type,
                        TransactionType::from_code,
                    )?,
                    property_type: parse_code("PropertyType", property, PropertyType::from_code)?,
                    standard_status: StandardStatus::Active,
                    city: self.city.clone().ok_or_else(|| missing("City", "--city"))?,
                    district: None,
                    postal_code: None,
                    unparsed_address: None,
                    list_price: self.price.ok_or_else(|| missing("ListPrice", "--price"))?,
                    currency: "EUR".into(),
                    living_area: None,
                    rooms_total: None,
                    bedrooms_total: None,
                    bathrooms_total_integer: None,
                    title: self
                        .title
                        .clone()
                        .ok_or_else(|| missing("Title", "--title"))?,
                    public_remarks: String::new(),
                    media: Vec::new(),
                    modification_timestamp: listings::timestamp_now(),
                }
            }
        };
        if let Some(key) = &self.key {
            doc.listing_key = key.clone();
        }
        self.apply(&mut doc)?;
        doc.modification_timestamp = listings::timestamp_now();
        Ok(doc)
    }
}

/// What a command printed: JSON and text forms.
#[derive(Debug)]
pub struct Output {
    /// The `--json` form.
    pub json: Value,
    /// The plain-text form.
    pub text: String,
}

fn out(json: Value, text: impl Into<String>) -> Result<Output, ClientError> {
    Ok(Output {
        json,
        text: text.into(),
    })
}

/// After an enrolment: signs anew, with the new key, the own listings the platform holds signed
/// with a certificate revoked for a key compromise, and sends them at once.
fn resign_after_enrolment(
    store: &mut Store,
    passphrase: &str,
) -> Result<(listings::Resigning, listings::DrainReport), ClientError> {
    let mut session = Session::open(store, passphrase, &[])?;
    let resigning = listings::queue_resigning(store.conn(), &mut session)?;
    if resigning.is_empty() {
        return Ok((resigning, listings::DrainReport::default()));
    }
    let sent = listings::drain(store.conn(), &mut session)?;
    Ok((resigning, sent))
}

/// Asks on the terminal whether this desk may change agency; false without a terminal.
fn confirm_switch(change: &identity::AgencyChange) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "the token is for agency {} ({}), not {} ({}): confirm with --yes when no terminal is available",
            change.new_id, change.new_name, change.current_id, change.current_name
        );
        return false;
    }
    eprint!(
        "This desk works for agency {} ({}). The token makes it a desk of agency {} ({}); \
         {} own listing(s) of {} will be removed from this desk (they stay on the platform).\n\
         Type the new agency's id ({}) to confirm: ",
        change.current_id,
        change.current_name,
        change.new_id,
        change.new_name,
        change.own_listings,
        change.current_name,
        change.new_id
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    answer.trim() == change.new_id.to_string()
}

fn open_session(store: &mut Store, cli: &Cli) -> Result<Session, ClientError> {
    if identity::load(store.conn())?.is_none() {
        return Err(ClientError::NotEnrolled);
    }
    let passphrase = identity::passphrase_from_env_or_prompt(false)?;
    let session = Session::open(store, &passphrase, &cli.servers)?;
    for notice in &session.notices {
        eprintln!("{notice}");
    }
    Ok(session)
}

fn listing_line(l: &listings::OwnListing) -> String {
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

fn drain_text(r: &listings::DrainReport) -> String {
    let mut text = String::new();
    for s in &r.sent {
        text += &format!("sent {} {}: {}\n", s.action, s.listing_key, s.outcome);
    }
    for s in &r.rejected {
        text += &format!("REFUSED {} {}: {}\n", s.action, s.listing_key, s.outcome);
    }
    text += &format!("{} change(s) still queued", r.remaining);
    text
}

fn found_lines(listings: &[search::Found]) -> String {
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

fn search_text(r: &search::SearchResult) -> String {
    format!(
        "{} listing(s) match {} (search #{}){}",
        r.total,
        r.summary,
        r.query_id,
        found_lines(&r.listings)
    )
}

fn remote_search_text(r: &search::RemoteSearchResult) -> String {
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
    text + &found_lines(&r.listings)
}

fn pulled_text(p: &feed::PullReport) -> String {
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
    for i in &p.invalid {
        text += &format!(
            "\nWARNING: listing {}/{} has an INVALID SIGNATURE ({}); it is kept flagged and gives no hints",
            i.office_key, i.listing_key, i.problem
        );
    }
    for r in &p.refused_removals {
        text += &format!(
            "\nWARNING: the platform says listing {}/{} is gone, but {}",
            r.office_key, r.listing_key, r.problem
        );
    }
    for r in &p.refused_rollbacks {
        text += &format!(
            "\nWARNING: listing {}/{}: {}",
            r.office_key, r.listing_key, r.problem
        );
    }
    text
}

/// Runs a parsed command line.
pub fn run(cli: &Cli) -> Result<Output, ClientError> {
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => crate::db::default_data_dir().ok_or_else(|| {
            ClientError::Storage("no per-user data directory is known here; give --data-dir".into())
        })?,
    };
    let mut store = Store::open(&data_dir)?;
    if let Command::Gui { view } = &cli.command {
        let view = crate::gui::View::from_name(view).ok_or_else(|| {
            ClientError::input(
                "--view",
                "must be listings, customers, hints, sync or certificate",
            )
        })?;
        crate::gui::run(store, cli.servers.clone(), view)?;
        return out(json!({"closed": true}), "");
    }
    let result = dispatch(&mut store, cli);
    if let Err(ClientError::CertificateRevoked(note)) = &result {
        // Remembered, so `cert` and the window say so even when the platform is not asked.
        let _ = identity::record_revoked(store.conn(), note);
    }
    result
}

/// Runs every command but the window, over the open desk database.
fn dispatch(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    match &cli.command {
        Command::Gui { .. } => unreachable!("the window is opened by `run`"),
        Command::Enroll {
            token,
            fingerprint,
            switch_agency,
            yes,
        } => {
            if cli.servers.is_empty() {
                return Err(ClientError::input(
                    "--server",
                    "give at least one --server URL",
                ));
            }
            let passphrase = identity::passphrase_from_env_or_prompt(true)?;
            let mut confirm = |change: &identity::AgencyChange| *yes || confirm_switch(change);
            let switch: Option<&mut dyn FnMut(&identity::AgencyChange) -> bool> = if *switch_agency
            {
                Some(&mut confirm)
            } else {
                None
            };
            let status =
                identity::enroll(store, &cli.servers, token, fingerprint, &passphrase, switch)?;
            let mut text = format!(
                "enrolled as agency {} ({}); certificate {} valid until {} ({} days)",
                status.agency_id,
                status.agency_name,
                status.serial,
                status.not_after,
                status.days_left
            );
            // Enrolling again after a key compromise: what the old key signed is signed anew.
            let (resigning, note) = match resign_after_enrolment(store, &passphrase) {
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
        Command::Cert { action } => cert(store, cli, action.as_ref()),
        Command::Listing(cmd) => run_listing(store, cmd),
        Command::Publish { keys } => {
            let mut session = open_session(store, cli)?;
            let queued = listings::queue_changes(store.conn(), keys)?;
            let resigning = listings::queue_resigning(store.conn(), &mut session)?;
            let report = listings::drain(store.conn(), &mut session)?;
            let mut text = format!("queued {}\n{}", queued.len(), drain_text(&report));
            if let Some(note) = resigning.text() {
                text = format!("{note}\n{text}");
            }
            out(
                json!({"queued": queued, "resigning": resigning, "report": report}),
                text,
            )
        }
        Command::Sync => {
            let mut session = open_session(store, cli)?;
            let resigning = listings::queue_resigning(store.conn(), &mut session)?;
            let sent = listings::drain(store.conn(), &mut session)?;
            let json_mode = cli.json;
            let pulled = feed::pull(store, &mut session, &mut |done, total| {
                if !json_mode {
                    eprintln!("pulled {done} of {total} updates");
                }
            })?;
            let mut text = format!("{}\n{}", drain_text(&sent), pulled_text(&pulled));
            if let Some(note) = resigning.text() {
                text = format!("{note}\n{text}");
            }
            out(
                json!({"resigning": resigning, "sent": sent, "pulled": pulled}),
                text,
            )
        }
        Command::Updates => {
            let mut session = open_session(store, cli)?;
            let count = feed::count(store, &mut session)?;
            let queued = listings::queue(store.conn())?.len();
            out(
                json!({"count": count.count, "after": count.after, "latest": count.latest, "queued": queued}),
                format!(
                    "{} updates available; {queued} own change(s) queued",
                    count.count
                ),
            )
        }
        Command::Search(args) => {
            if let Some(page) = args.remote_page()? {
                let criteria = match args.rerun {
                    Some(id) => search::past_criteria(store.conn(), id)?,
                    None => args.criteria.to_criteria()?,
                };
                let criteria = customers::check_wishes(&criteria)?;
                let mut session = open_session(store, cli)?;
                let result = search::search_remote(store.conn(), &mut session, &criteria, page)?;
                let text = remote_search_text(&result);
                return out(json!(result), text);
            }
            if args.history {
                let past = search::history(store.conn())?;
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
                return out(json!(past), text);
            }
            let result = match args.rerun {
                Some(id) => search::rerun(store.conn(), id, args.limit)?,
                None => search::search(store.conn(), &args.criteria.to_criteria()?, args.limit)?,
            };
            let text = search_text(&result);
            out(json!(result), text)
        }
        Command::Customer(cmd) => run_customer(store, cli, cmd),
        Command::Hints { all, dismiss } => {
            if let Some(id) = dismiss {
                customers::dismiss(store.conn(), *id)?;
                return out(
                    json!({"dismissed": id}),
                    format!("hint {id} marked unsuitable; it will not be raised again"),
                );
            }
            let hints = customers::list_hints(store.conn(), *all)?;
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
    }
}

/// `cert [status|renew]`: the desk's certificate, checked with the platform when it answers (a
/// revoked certificate shows as REVOKED, also offline once learned).
fn cert(store: &mut Store, cli: &Cli, action: Option<&CertCommand>) -> Result<Output, ClientError> {
    let renew = matches!(action, Some(CertCommand::Renew));
    let (identity, renewed, offline) = match open_session(store, cli) {
        Ok(mut session) => {
            let renewed = if renew {
                let passphrase = identity::passphrase_from_env_or_prompt(false)?;
                session.renew(store, &passphrase)?;
                true
            } else {
                session
                    .notices
                    .first()
                    .is_some_and(|n| n.starts_with("certificate renewed"))
            };
            let offline = match identity::refresh_revocation(store, &mut session) {
                Ok(_) => None,
                Err(ClientError::Unreachable { url }) => Some(format!(
                    "the platform at {url} did not answer: status as last known"
                )),
                Err(e @ ClientError::CertificateRefused { .. }) => Some(e.to_string()),
                Err(e) => return Err(e),
            };
            (session.identity, renewed, offline)
        }
        // Unlocking renews a certificate that is due; the platform then refuses a revoked one.
        Err(ClientError::CertificateRevoked(note)) if !renew => {
            identity::record_revoked(store.conn(), &note)?;
            let id = identity::load(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            (id, false, None)
        }
        Err(e) => return Err(e),
    };
    let status = identity::status(store.conn(), &identity, renewed)?;
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

fn run_listing(store: &mut Store, cmd: &ListingCommand) -> Result<Output, ClientError> {
    let conn = store.conn();
    let done = |l: listings::OwnListing| {
        let text = listing_line(&l);
        out(json!(l), text)
    };
    match cmd {
        ListingCommand::Add(fields) => done(listings::add(conn, fields.to_new_document()?)?),
        ListingCommand::Edit(fields) => {
            let key = fields.key.clone().ok_or_else(|| {
                ClientError::input("--key", "name the listing to edit with --key")
            })?;
            if fields.file.is_some() {
                let doc = fields.to_new_document()?;
                return done(listings::edit(conn, &key, |d| *d = doc)?);
            }
            let mut result = Ok(());
            let l = listings::edit(conn, &key, |d| result = fields.apply(d));
            result?;
            done(l?)
        }
        ListingCommand::Status { key, status } => {
            let status = parse_code("StandardStatus", status, StandardStatus::from_code)?;
            if status == StandardStatus::Withdrawn {
                return done(listings::withdraw(conn, key)?);
            }
            done(listings::edit(conn, key, |d| d.standard_status = status)?)
        }
        ListingCommand::Withdraw { key } => done(listings::withdraw(conn, key)?),
        ListingCommand::List => {
            let all = listings::list(conn)?;
            let text = all.iter().map(listing_line).collect::<Vec<_>>().join("\n");
            out(json!(all), text)
        }
    }
}

fn customer_line(c: &customers::Customer) -> String {
    match &c.wishes {
        Some(w) => format!(
            "#{} tenant {} <{}>: {} ({} open hints){}",
            c.id,
            c.name,
            c.contact,
            w.summary(),
            c.open_hints,
            c.watch_id
                .map(|id| format!("; watched on the platform as saved search {id}"))
                .unwrap_or_default()
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

fn run_customer(
    store: &mut Store,
    cli: &Cli,
    cmd: &CustomerCommand,
) -> Result<Output, ClientError> {
    let conn = store.conn();
    let done = |c: customers::Customer| {
        let text = customer_line(&c);
        out(json!(c), text)
    };
    match cmd {
        CustomerCommand::AddOwner {
            name,
            contact,
            listings,
        } => done(customers::add_owner(conn, name, contact, listings)?),
        CustomerCommand::AddTenant {
            name,
            contact,
            wishes,
        } => done(customers::add_tenant(
            conn,
            name,
            contact,
            &wishes.to_criteria()?,
        )?),
        CustomerCommand::Wishes { id, wishes } => {
            done(customers::set_wishes(conn, *id, &wishes.to_criteria()?)?)
        }
        CustomerCommand::Edit {
            id,
            name,
            contact,
            listings,
        } => {
            let changes = customers::CustomerChanges {
                name: name.clone(),
                contact: contact.clone(),
                listing_keys: listings
                    .as_deref()
                    .map(|l| l.split(',').map(str::to_owned).collect()),
            };
            done(customers::edit(conn, *id, &changes)?)
        }
        CustomerCommand::Remove { id, local_only } => remove_customer(store, cli, *id, *local_only),
        CustomerCommand::List => {
            let all = customers::list(conn)?;
            let text = all.iter().map(customer_line).collect::<Vec<_>>().join("\n");
            out(json!(all), text)
        }
        CustomerCommand::Watch { id } => watch_customer(store, cli, *id),
        CustomerCommand::Watched => watched_customers(store, cli),
        CustomerCommand::Unwatch { platform_id } => unwatch_customer(store, cli, *platform_id),
    }
}

/// `customer remove ID`: removes the customer from this desk; a watched tenant's saved search
/// on the platform goes first (unless `--local-only`), and if the platform cannot be reached
/// nothing is removed.
fn remove_customer(
    store: &mut Store,
    cli: &Cli,
    id: i32,
    local_only: bool,
) -> Result<Output, ClientError> {
    let customer = customers::get(store.conn(), id)?;
    let removed = match customer.watch_id {
        Some(w) if !local_only => {
            let mut session = open_session(store, cli)?;
            customers::unwatch_and_remove(store.conn(), &mut session, id).map_err(|e| match e {
                ClientError::Unreachable { url } => ClientError::input(
                    "ID",
                    format!(
                        "{} (customer {id}) is watched on the platform (saved search {w}) and the \
                         platform at {url} cannot be reached to delete that saved search, so \
                         nothing was removed. Try again when it answers, or add --local-only to \
                         remove them from this desk only (`customer unwatch {w}` deletes the \
                         saved search later)",
                        customer.name
                    ),
                ),
                other => other,
            })?
        }
        _ => customers::remove(store.conn(), id, local_only)?,
    };
    let mut text = format!(
        "removed {} {} (customer {id}) and {} hint(s) from this desk",
        removed.customer.kind, removed.customer.name, removed.hints
    );
    match (removed.unwatched, customer.watch_id) {
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

/// `customer watch ID`: keeps the customer's wishes on the platform as this agency's saved
/// search (watching again renews it).
fn watch_customer(store: &mut Store, cli: &Cli, id: i32) -> Result<Output, ClientError> {
    // Refuse an unknown customer or an owner before asking for the passphrase.
    let customer = customers::get(store.conn(), id)?;
    if customer.wishes.is_none() {
        return Err(ClientError::input(
            "ID",
            format!(
                "{} (customer {id}) is an owner; only a tenant's wishes can be watched",
                customer.name
            ),
        ));
    }
    let mut session = open_session(store, cli)?;
    let saved = customers::watch(store.conn(), &mut session, id)?;
    out(
        json!(saved),
        format!(
            "watching on the platform as saved search {} until {}",
            saved.id, saved.expires_at
        ),
    )
}

/// `customer watched`: the agency's saved searches on the platform.
fn watched_customers(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    let mut session = open_session(store, cli)?;
    let all: Vec<api_types::api::AgencySavedSearch> =
        session.client.get_json("/api/v1/saved-searches")?;
    let text = all
        .iter()
        .map(|s| format!("#{} {} (until {})", s.id, s.name, s.expires_at))
        .collect::<Vec<_>>()
        .join("\n");
    out(json!(all), text)
}

/// `customer unwatch PLATFORM_ID`: deletes the agency's saved search on the platform.
fn unwatch_customer(store: &mut Store, cli: &Cli, platform_id: i64) -> Result<Output, ClientError> {
    let mut session = open_session(store, cli)?;
    customers::unwatch(store.conn(), &mut session, platform_id)?;
    out(
        json!({"deleted": platform_id}),
        format!("saved search {platform_id} deleted on the platform"),
    )
}

/// Parses the process's arguments, runs the command, prints, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(output) => {
            if cli.json {
                println!("{}", output.json);
            } else if !output.text.is_empty() {
                println!("{}", output.text);
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            if cli.json {
                println!(
                    "{}",
                    json!({"error": {"code": e.code(), "message": e.to_string(), "field": e.field()}})
                );
            }
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_token_may_start_with_a_hyphen() {
        // Tokens are URL-safe base64, so one in 64 starts with '-'.
        let cli = Cli::try_parse_from([
            "agency-client",
            "enroll",
            "--token",
            "-nQ2xk",
            "--fingerprint",
            "AB:CD",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Enroll { token, .. } if token == "-nQ2xk"));
        assert!(
            Cli::try_parse_from([
                "agency-client",
                "enroll",
                "--token",
                "t",
                "--fingerprint",
                "f",
                "--yes"
            ])
            .is_err(),
            "--yes only with --switch-agency"
        );
    }
}
