//! What the command line accepts: the clap definitions of every command and option, and nothing
//! else (turning them into domain values is each command's first step, in [`super::commands`]).
//! `--help` is generated from the doc comments here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
        #[arg(long, value_name = "ID", allow_negative_numbers = true)]
        dismiss: Option<i32>,
    },
    /// The agency vault: customers synced end-to-end encrypted between the agency's desks.
    #[command(subcommand)]
    Vault(VaultCommand),
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

/// `vault` actions. Those that need the platform say, when it cannot be reached, that nothing
/// was done (exit status 3); customer changes wait here and go at the next sync.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the agency's vault on this first desk and send its customers; prints the
    /// recovery key once (keep it offline).
    Init,
    /// Desks with their state and fingerprints, records, changes waiting, conflicts; registers
    /// this desk's vault key when the agency has a vault (it then waits for approval).
    Status,
    /// Approve a waiting desk, named by its desk id or its fingerprint (compare it with the
    /// fingerprint that desk shows in `vault status`).
    Approve {
        /// Desk id or fingerprint.
        desk: String,
    },
    /// Remove a desk (id or fingerprint): refused by the platform at once; the vault key is
    /// rotated and the records sealed anew.
    Remove {
        /// Desk id or fingerprint.
        desk: String,
    },
    /// Let this desk in with the recovery key (AGENCY_CLIENT_RECOVERY_KEY, else asked).
    Recover,
    /// Customers changed on this desk and on another: both sides, until you choose.
    Conflicts,
    /// Settle a conflict: keep this desk's side or the other desk's.
    Resolve {
        /// The conflict's record id (see `vault conflicts`).
        id: String,
        /// `mine` or `theirs`.
        #[arg(long, value_parser = ["mine", "theirs"])]
        keep: String,
    },
    /// Sync the vault only (`sync` does it after the listings).
    Sync,
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
    /// Listings whose change met a newer version another desk published: this desk's version
    /// and the platform's, side by side (all, or one).
    Conflicts {
        /// Listing key.
        key: Option<String>,
    },
    /// Settle a conflict: keep this desk's version (sent again on top of the platform's, now)
    /// or the platform's. To merge, `listing edit` it first, then keep mine.
    Resolve {
        /// Listing key.
        key: String,
        /// Which version to keep.
        #[arg(long, value_enum)]
        keep: KeepSide,
    },
}

/// The side `listing resolve` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepSide {
    /// This desk's version.
    Mine,
    /// The platform's version (another desk's).
    Theirs,
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
    #[arg(long, allow_negative_numbers = true)]
    pub price: Option<i64>,
    /// Currency (ISO 4217).
    #[arg(long)]
    pub currency: Option<String>,
    /// LivingArea in m².
    #[arg(long, allow_negative_numbers = true)]
    pub area: Option<f64>,
    /// RoomsTotal.
    #[arg(long, allow_negative_numbers = true)]
    pub rooms: Option<u32>,
    /// BedroomsTotal.
    #[arg(long, allow_negative_numbers = true)]
    pub bedrooms: Option<u32>,
    /// BathroomsTotalInteger.
    #[arg(long, allow_negative_numbers = true)]
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
    #[arg(long, allow_negative_numbers = true)]
    pub min_price: Option<u64>,
    /// Highest price.
    #[arg(long, allow_negative_numbers = true)]
    pub max_price: Option<u64>,
    /// Smallest living area, m².
    #[arg(long, allow_negative_numbers = true)]
    pub min_area: Option<f64>,
    /// Largest living area, m².
    #[arg(long, allow_negative_numbers = true)]
    pub max_area: Option<f64>,
    /// Fewest bedrooms.
    #[arg(long, allow_negative_numbers = true)]
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
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub limit: usize,
    /// List past searches instead.
    #[arg(long)]
    pub history: bool,
    /// Run past search ID again.
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    pub rerun: Option<i32>,
    /// Search every agency's active listings on the platform instead of the pulled ones here
    /// (needs the key; each result's agency signature is checked).
    #[arg(long)]
    pub remote: bool,
    /// With --remote: newest, price_asc or price_desc (here, results are cheapest first).
    #[arg(long)]
    pub sort: Option<String>,
    /// With --remote: the page to show, from 1.
    #[arg(long, allow_negative_numbers = true)]
    pub page: Option<u32>,
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
        #[arg(allow_negative_numbers = true)]
        id: i32,
        /// The new wishes.
        #[command(flatten)]
        wishes: CriteriaArgs,
    },
    /// Change a customer's name, contact, notes or (owners) linked own listings; what is not
    /// given stays.
    Edit {
        /// Customer id (see `customer list`).
        #[arg(allow_negative_numbers = true)]
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
        /// New notes about the customer ("" clears them).
        #[arg(long)]
        notes: Option<String>,
    },
    /// Remove a customer with their hints and marks from this desk. A tenant watched on the
    /// platform has that saved search deleted first (needs the platform; if it cannot be
    /// reached nothing is removed).
    Remove {
        /// Customer id (see `customer list`).
        #[arg(allow_negative_numbers = true)]
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
        #[arg(allow_negative_numbers = true)]
        id: i32,
    },
    /// The agency's saved searches on the platform.
    Watched,
    /// Stop watching: delete a saved search on the platform.
    Unwatch {
        /// The platform's saved-search id (see `customer watched`).
        #[arg(allow_negative_numbers = true)]
        platform_id: i64,
    },
}
