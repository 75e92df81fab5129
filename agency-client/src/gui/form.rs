//! The add/edit listing form: text fields in, a checked [`ListingDocument`] out, and errors
//! kept per field so they can be shown next to the field concerned.

use std::collections::BTreeMap;

use api_types::{
    CurrencyCode, ListingDocument, ListingKey, Price, PropertyType, StandardStatus, TransactionType,
};

use crate::error::ClientError;
use crate::listings;

/// One text field of the form: its wire name (as the core names it in errors) and its label.
pub const FIELDS: [(&str, &str); 13] = [
    ("ListingKey", "Listing key"),
    ("Title", "Title"),
    ("City", "City"),
    ("District", "District"),
    ("PostalCode", "Postal code"),
    ("UnparsedAddress", "Address"),
    ("ListPrice", "Price"),
    ("Currency", "Currency"),
    ("LivingArea", "Living area (m²)"),
    ("RoomsTotal", "Rooms"),
    ("BedroomsTotal", "Bedrooms"),
    ("BathroomsTotalInteger", "Bathrooms"),
    ("PublicRemarks", "Description"),
];

/// The form's state.
#[derive(Debug, Clone)]
pub struct ListingForm {
    /// The listing being edited, or `None` for a new one.
    pub editing: Option<String>,
    /// Text of each field, by wire name.
    pub values: BTreeMap<&'static str, String>,
    /// Sale or rent.
    pub transaction_type: TransactionType,
    /// Kind of property.
    pub property_type: PropertyType,
    /// Problems, by wire name (`document` for ones that concern no single field).
    pub errors: BTreeMap<String, String>,
}

impl Default for ListingForm {
    fn default() -> Self {
        let mut values: BTreeMap<&'static str, String> =
            FIELDS.iter().map(|(k, _)| (*k, String::new())).collect();
        values.insert("Currency", "EUR".into());
        ListingForm {
            editing: None,
            values,
            transaction_type: TransactionType::Sale,
            property_type: PropertyType::Apartment,
            errors: BTreeMap::new(),
        }
    }
}

fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn number<T: std::str::FromStr>(
    field: &'static str,
    text: &str,
    what: &str,
) -> Result<Option<T>, ClientError> {
    let t = text.trim().replace([' ', '\u{a0}'], "");
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| ClientError::input(field, format!("must be {what}, not {:?}", text.trim())))
}

impl ListingForm {
    /// A form filled from an existing listing, for editing it.
    pub fn from_listing(doc: &ListingDocument) -> ListingForm {
        let mut f = ListingForm {
            editing: Some(doc.listing_key.to_string()),
            transaction_type: doc.transaction_type,
            property_type: doc.property_type,
            ..ListingForm::default()
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        for (k, v) in [
            ("ListingKey", doc.listing_key.to_string()),
            ("Title", doc.title.clone()),
            ("City", doc.city.clone()),
            ("District", opt(&doc.district)),
            ("PostalCode", opt(&doc.postal_code)),
            ("UnparsedAddress", opt(&doc.unparsed_address)),
            ("ListPrice", doc.list_price.to_string()),
            ("Currency", doc.currency.to_string()),
            (
                "LivingArea",
                doc.living_area.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("RoomsTotal", num(doc.rooms_total)),
            ("BedroomsTotal", num(doc.bedrooms_total)),
            ("BathroomsTotalInteger", num(doc.bathrooms_total_integer)),
            ("PublicRemarks", doc.public_remarks.clone()),
        ] {
            f.values.insert(k, v);
        }
        f
    }

    fn value(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }

    fn price(&self) -> Result<Price, ClientError> {
        let units = number("ListPrice", self.value("ListPrice"), "a whole number")?
            .ok_or_else(|| ClientError::input("ListPrice", "is required"))?;
        Ok(Price::new(units)?)
    }

    fn currency(&self) -> Result<CurrencyCode, ClientError> {
        Ok(CurrencyCode::parse(
            self.value("Currency").trim().to_uppercase(),
        )?)
    }

    /// Writes the form's fields into `doc` (key and status excepted); numbers are checked here.
    pub fn apply(&self, doc: &mut ListingDocument) -> Result<(), ClientError> {
        doc.transaction_type = self.transaction_type;
        doc.property_type = self.property_type;
        doc.title = self.value("Title").trim().to_owned();
        doc.city = self.value("City").trim().to_owned();
        doc.district = optional(self.value("District"));
        doc.postal_code = optional(self.value("PostalCode"));
        doc.unparsed_address = optional(self.value("UnparsedAddress"));
        doc.list_price = self.price()?;
        doc.currency = self.currency()?;
        doc.living_area = number("LivingArea", self.value("LivingArea"), "a number of m²")?;
        doc.rooms_total = number("RoomsTotal", self.value("RoomsTotal"), "a whole number")?;
        doc.bedrooms_total = number(
            "BedroomsTotal",
            self.value("BedroomsTotal"),
            "a whole number",
        )?;
        doc.bathrooms_total_integer = number(
            "BathroomsTotalInteger",
            self.value("BathroomsTotalInteger"),
            "a whole number",
        )?;
        doc.public_remarks = self.value("PublicRemarks").trim().to_owned();
        Ok(())
    }

    /// A new document from the form (status active), checked.
    pub fn to_new_document(&self) -> Result<ListingDocument, ClientError> {
        // The price first, then the key: the order the form has always reported problems in.
        let list_price = self.price()?;
        let currency = self.currency()?;
        let mut doc = ListingDocument {
            listing_key: ListingKey::parse(self.value("ListingKey").trim())?,
            transaction_type: self.transaction_type,
            property_type: self.property_type,
            standard_status: StandardStatus::Active,
            city: String::new(),
            district: None,
            postal_code: None,
            unparsed_address: None,
            list_price,
            currency,
            living_area: None,
            rooms_total: None,
            bedrooms_total: None,
            bathrooms_total_integer: None,
            title: String::new(),
            public_remarks: String::new(),
            media: Vec::new(),
            modification_timestamp: listings::timestamp_now(),
        };
        self.apply(&mut doc)?;
        doc.validate()?;
        Ok(doc)
    }

    /// Saves the form: adds a new draft or changes the listing being edited. On failure the
    /// problem is recorded against its field (and nothing is stored).
    pub fn save(
        &mut self,
        conn: &mut diesel::SqliteConnection,
    ) -> Result<listings::OwnListing, ClientError> {
        self.errors.clear();
        let result = match self.editing.clone() {
            None => self
                .to_new_document()
                .and_then(|doc| listings::add(conn, doc)),
            Some(key) => {
                let mut applied = Ok(());
                let r = listings::edit(conn, &key, |d| applied = self.apply(d));
                applied.and(r)
            }
        };
        if let Err(e) = &result {
            let field = e.field().unwrap_or("document").to_owned();
            let message = match e {
                ClientError::InvalidListing { message, .. }
                | ClientError::InvalidInput { message, .. } => message.clone(),
                other => other.to_string(),
            };
            self.errors.insert(field, message);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_price_is_a_field_error() {
        let mut f = ListingForm::default();
        f.values.insert("ListPrice", "12x".into());
        let e = f.to_new_document().unwrap_err();
        assert_eq!(e.field(), Some("ListPrice"));
    }

    #[test]
    fn editing_round_trips() {
        let doc = ListingDocument::example("K-1");
        let f = ListingForm::from_listing(&doc);
        let mut back = doc.clone();
        f.apply(&mut back).unwrap();
        assert_eq!(back.list_price, doc.list_price);
        assert_eq!(back.city, doc.city);
    }
}
