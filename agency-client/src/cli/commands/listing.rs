//! `listing …`: the agency's own listings on this desk (nothing is sent until `publish` or
//! `sync`). A listing comes from `--file doc.json` (RESO names), the options, or both.

use api_types::{
    CurrencyCode, ListingDocument, ListingKey, MediaItem, Price, PropertyType, StandardStatus,
    TransactionType,
};

use super::open_session;
use crate::cli::Cli;
use crate::cli::args::{KeepSide, ListingCommand, ListingFields};
use crate::cli::render::{self, Output};
use crate::db::Store;
use crate::error::ClientError;
use crate::{conflicts, listings};

/// Runs a `listing` command.
pub fn run(store: &mut Store, cli: &Cli, cmd: &ListingCommand) -> Result<Output, ClientError> {
    if let ListingCommand::Resolve { key, keep } = cmd {
        return resolve(store, cli, key, *keep);
    }
    let conn = store.conn();
    let done = |l: listings::OwnListing| Ok(render::own_listing(&l));
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
        ListingCommand::List => Ok(render::own_listings(&listings::list(conn)?)),
        ListingCommand::Conflicts { key: None } => Ok(render::conflicts(&conflicts::list(conn)?)),
        ListingCommand::Conflicts { key: Some(key) } => {
            listings::get(conn, key)?;
            let found = conflicts::get(conn, key)?;
            Ok(render::conflicts(found.as_slice()))
        }
        ListingCommand::Resolve { .. } => unreachable!("handled above"),
    }
}

/// `listing resolve KEY --keep mine|theirs`: settles the conflict here (one transaction), then,
/// keeping mine, sends it at once (when the platform cannot be reached it stays queued, exit 3).
fn resolve(store: &mut Store, cli: &Cli, key: &str, keep: KeepSide) -> Result<Output, ClientError> {
    let keep = match keep {
        KeepSide::Mine => conflicts::Keep::Mine,
        KeepSide::Theirs => conflicts::Keep::Theirs,
    };
    let resolution = conflicts::resolve(store.conn(), key, keep)?;
    if resolution.queued.is_none() {
        return Ok(render::resolved(&resolution, None));
    }
    let mut session = open_session(store, cli)?;
    let report = listings::drain(store.conn(), &mut session)?;
    Ok(render::resolved(&resolution, Some(&report)))
}

/// `value` as a code of the listing field `field` (`TransactionType`, …), or an error naming it.
fn parse_code<T>(field: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T, ClientError> {
    parse(value).ok_or_else(|| ClientError::InvalidListing {
        field: field.into(),
        message: format!("has no value {value:?}"),
    })
}

/// `--price` as a ListPrice: a negative number is checked like any other bad price (clap reads
/// it as a number, not as an unknown option, so it reaches this check and names the field).
fn list_price(units: i64) -> Result<Price, ClientError> {
    // Below zero is as out of range as zero is; `Price::new` says what the range is.
    Ok(Price::new(u64::try_from(units).unwrap_or(0))?)
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
            doc.list_price = list_price(v)?;
        }
        if let Some(v) = &self.currency {
            doc.currency = CurrencyCode::parse(v.clone())?;
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
                let transaction_type = parse_code(
                    "TransactionType",
                    transaction_type,
                    TransactionType::from_code,
                )?;
                let property_type = parse_code("PropertyType", property, PropertyType::from_code)?;
                let city = self.city.clone().ok_or_else(|| missing("City", "--city"))?;
                let price = self.price.ok_or_else(|| missing("ListPrice", "--price"))?;
                let title = self
                    .title
                    .clone()
                    .ok_or_else(|| missing("Title", "--title"))?;
                // Checked after what is missing, as when the key was checked with the document.
                let listing_key = ListingKey::parse(key)?;
                ListingDocument {
                    listing_key,
                    transaction_type,
                    property_type,
                    standard_status: StandardStatus::Active,
                    city,
                    district: None,
                    postal_code: None,
                    unparsed_address: None,
                    list_price: list_price(price)?,
                    currency: CurrencyCode::parse("EUR")?,
                    living_area: None,
                    rooms_total: None,
                    bedrooms_total: None,
                    bathrooms_total_integer: None,
                    title,
                    public_remarks: String::new(),
                    media: Vec::new(),
                    modification_timestamp: listings::timestamp_now(),
                }
            }
        };
        if let Some(key) = &self.key {
            doc.listing_key = ListingKey::parse(key.clone())?;
        }
        self.apply(&mut doc)?;
        doc.modification_timestamp = listings::timestamp_now();
        Ok(doc)
    }
}
