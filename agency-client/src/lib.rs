//! The agency desk program: the agency's own listings and private customers in a local SQLite
//! database, publishing signed listings to the platform over mutual TLS (with a persistent
//! outbox, so work goes on offline), pulling everyone's listings from the change feed, local
//! search, and hints when a listing fits a tenant's wishes.
//!
//! * [`db`]: the local database (created and migrated under the data directory);
//! * [`identity`]: enrolment, the encrypted key, certificate status and renewal;
//! * [`net`]: HTTPS with mutual TLS over several endpoints with failover;
//! * [`listings`]: own listings, the outbox, signing and sending;
//! * [`conflicts`]: own listings edited on several desks (versions, conflicts, resolving);
//! * [`feed`]: pulling the change feed;
//! * [`search`]: local search, search on the platform, and past searches;
//! * [`signatures`]: checking each agency's signature on listings from the platform;
//! * [`customers`]: owners, tenants with wishes, hints;
//! * [`vault`]: customers synced end-to-end encrypted between the agency's desks;
//! * [`gui`]: the desktop window (`agency-client gui`);
//! * [`cli`]: the command line (`main.rs` only calls [`cli::main`]).

pub mod cli;
pub mod conflicts;
pub mod customers;
pub mod db;
pub mod enquiries;
pub mod error;
pub mod feed;
pub mod gui;
pub mod identity;
pub mod listings;
pub mod net;
pub mod search;
pub mod signatures;
pub mod vault;

pub use error::ClientError;
