//! Search criteria and what it means for a listing to match them. One definition serves the
//! website's search, saved-search alerts (the platform's matcher index must agree with
//! [`SearchCriteria::matches`], its reference) and the agency client's tenant hints.
//!
//! # Semantics
//!
//! A criteria set is a conjunction of optional criteria; an empty set matches every active
//! listing. A listing matches when it is [`Active`](crate::StandardStatus::Active) and meets every
//! criterion that is given:
//!
//! * `transaction_type`: equal;
//! * `city`, `district`: equal after [`normalize`] (trimmed, lowercased, inner whitespace collapsed);
//!   a listing without a district never meets a `district` criterion;
//! * `property_types`: the listing's type is one of the set (an empty set means any);
//! * `min_price` ≤ price ≤ `max_price` (bounds inclusive, either may be absent);
//! * `min_living_area` ≤ living area ≤ `max_living_area`; a listing that does not state its living
//!   area does not meet either bound;
//! * `min_bedrooms` ≤ bedrooms; a listing that does not state bedrooms does not meet it;
//! * `keywords`: every keyword, normalised, appears as a substring of the normalised title or of
//!   the normalised description (each keyword may be found in either).

use serde::{Deserialize, Serialize};

use crate::listing::{
    FieldError, ListingDocument, MAX_LIVING_AREA, MAX_PRICE, PropertyType, StandardStatus,
    TransactionType,
};

/// Most keywords in one search.
pub const MAX_KEYWORDS: usize = 10;

/// Trimmed, lowercased, runs of whitespace collapsed to one space: the form city, district and
/// keyword comparisons use.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// What a buyer or tenant is looking for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchCriteria {
    /// Sale or rent; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<TransactionType>,
    /// City; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// District within the city; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Acceptable property types; any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_types: Vec<PropertyType>,
    /// Lowest price, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<u64>,
    /// Highest price, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<u64>,
    /// Smallest living area in m², inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_living_area: Option<f64>,
    /// Largest living area in m², inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_living_area: Option<f64>,
    /// Fewest bedrooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bedrooms: Option<u32>,
    /// Words that must all appear in the title or description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// The facts of a listing that matching looks at, with texts already normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingFacts {
    /// Sale or rent.
    pub transaction_type: TransactionType,
    /// Kind of property.
    pub property_type: PropertyType,
    /// Market status; only active listings match.
    pub status: StandardStatus,
    /// Normalised city.
    pub city: String,
    /// Normalised district.
    pub district: Option<String>,
    /// Price in whole currency units.
    pub price: u64,
    /// Living area in m².
    pub living_area: Option<f64>,
    /// Bedrooms.
    pub bedrooms: Option<u32>,
    /// Normalised title.
    pub title: String,
    /// Normalised description.
    pub description: String,
}

impl ListingFacts {
    /// The facts of a listing document.
    pub fn from_document(doc: &ListingDocument) -> ListingFacts {
        ListingFacts {
            transaction_type: doc.transaction_type,
            property_type: doc.property_type,
            status: doc.standard_status,
            city: normalize(&doc.city),
            district: doc.district.as_deref().map(normalize),
            price: doc.list_price.get(),
            living_area: doc.living_area,
            bedrooms: doc.bedrooms_total,
            title: normalize(&doc.title),
            description: normalize(&doc.public_remarks),
        }
    }
}

impl SearchCriteria {
    /// Checks ranges and sizes; the first problem names its field (snake_case, as on the wire).
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, value) in [("city", &self.city), ("district", &self.district)] {
            if let Some(v) = value {
                let n = normalize(v);
                if n.is_empty() {
                    return Err(FieldError::new(field, "must not be blank"));
                }
                if n.chars().count() > 100 {
                    return Err(FieldError::new(field, "must have at most 100 characters"));
                }
            }
        }
        for (field, value) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if value.is_some_and(|p| p > MAX_PRICE) {
                return Err(FieldError::new(
                    field,
                    format!("must be at most {MAX_PRICE}"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price)
            && lo > hi
        {
            return Err(FieldError::new(
                "max_price",
                "must not be below the minimum price",
            ));
        }
        for (field, value) in [
            ("min_living_area", self.min_living_area),
            ("max_living_area", self.max_living_area),
        ] {
            if value.is_some_and(|a| !a.is_finite() || !(0.0..=MAX_LIVING_AREA).contains(&a)) {
                return Err(FieldError::new(
                    field,
                    format!("must be between 0 and {MAX_LIVING_AREA} square metres"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_living_area, self.max_living_area)
            && lo > hi
        {
            return Err(FieldError::new(
                "max_living_area",
                "must not be below the minimum living area",
            ));
        }
        if self.min_bedrooms.is_some_and(|b| b > 200) {
            return Err(FieldError::new("min_bedrooms", "must be at most 200"));
        }
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(FieldError::new(
                "keywords",
                format!("at most {MAX_KEYWORDS} keywords"),
            ));
        }
        for keyword in &self.keywords {
            let n = normalize(keyword);
            if n.is_empty() || n.chars().count() > 40 {
                return Err(FieldError::new(
                    "keywords",
                    "each keyword must have 1 to 40 characters",
                ));
            }
        }
        Ok(())
    }

    /// The same criteria in normal form: texts normalised, keywords deduplicated and sorted,
    /// property types deduplicated and sorted. Equal searches have equal normal forms.
    pub fn normalized(&self) -> SearchCriteria {
        let mut property_types = self.property_types.clone();
        property_types.sort();
        property_types.dedup();
        let mut keywords: Vec<String> = self
            .keywords
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        keywords.sort();
        keywords.dedup();
        SearchCriteria {
            transaction_type: self.transaction_type,
            city: self
                .city
                .as_deref()
                .map(normalize)
                .filter(|c| !c.is_empty()),
            district: self
                .district
                .as_deref()
                .map(normalize)
                .filter(|d| !d.is_empty()),
            property_types,
            min_price: self.min_price,
            max_price: self.max_price,
            min_living_area: self.min_living_area,
            max_living_area: self.max_living_area,
            min_bedrooms: self.min_bedrooms,
            keywords,
        }
    }

    /// True when no criterion is given (every active listing matches).
    pub fn is_empty(&self) -> bool {
        *self == SearchCriteria::default()
    }

    /// Whether `listing` matches; `self` must be [`normalized`](SearchCriteria::normalized). This
    /// is the reference the platform's matcher index is tested against.
    pub fn matches(&self, listing: &ListingFacts) -> bool {
        listing.status == StandardStatus::Active
            && self
                .transaction_type
                .is_none_or(|t| t == listing.transaction_type)
            && self.city.as_deref().is_none_or(|c| c == listing.city)
            && self
                .district
                .as_deref()
                .is_none_or(|d| listing.district.as_deref() == Some(d))
            && (self.property_types.is_empty()
                || self.property_types.contains(&listing.property_type))
            && self.min_price.is_none_or(|p| listing.price >= p)
            && self.max_price.is_none_or(|p| listing.price <= p)
            && self
                .min_living_area
                .is_none_or(|a| listing.living_area.is_some_and(|l| l >= a))
            && self
                .max_living_area
                .is_none_or(|a| listing.living_area.is_some_and(|l| l <= a))
            && self
                .min_bedrooms
                .is_none_or(|b| listing.bedrooms.is_some_and(|l| l >= b))
            && self.keywords.iter().all(|k| {
                listing.title.contains(k.as_str()) || listing.description.contains(k.as_str())
            })
    }

    /// A short human summary, e.g. `Rent · Lisbon · apartment, house · ≤ 1,500 · ≥ 2 bedrooms`
    /// (prices grouped by thousands with commas, as the site and the emails print them).
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = self.transaction_type {
            parts.push(match t {
                TransactionType::Sale => "For sale".into(),
                TransactionType::Rent => "To rent".into(),
            });
        }
        if let Some(c) = &self.city {
            parts.push(c.clone());
        }
        if let Some(d) = &self.district {
            parts.push(d.clone());
        }
        if !self.property_types.is_empty() {
            parts.push(
                self.property_types
                    .iter()
                    .map(|t| t.code())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        match (self.min_price, self.max_price) {
            (Some(lo), Some(hi)) => parts.push(format!("{}–{}", grouped(lo), grouped(hi))),
            (Some(lo), None) => parts.push(format!("≥ {}", grouped(lo))),
            (None, Some(hi)) => parts.push(format!("≤ {}", grouped(hi))),
            (None, None) => {}
        }
        match (self.min_living_area, self.max_living_area) {
            (Some(lo), Some(hi)) => parts.push(format!("{lo}–{hi} m²")),
            (Some(lo), None) => parts.push(format!("≥ {lo} m²")),
            (None, Some(hi)) => parts.push(format!("≤ {hi} m²")),
            (None, None) => {}
        }
        if let Some(b) = self.min_bedrooms {
            parts.push(format!("≥ {b} bedrooms"));
        }
        if !self.keywords.is_empty() {
            parts.push(format!("“{}”", self.keywords.join(" ")));
        }
        if parts.is_empty() {
            "All listings".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// `1500000` → `1,500,000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_group_prices_by_thousands() {
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_500), "1,500");
        assert_eq!(grouped(1_234_567), "1,234,567");
        let c = SearchCriteria {
            city: Some("Lisbon".into()),
            min_price: Some(250_000),
            max_price: Some(600_000),
            ..Default::default()
        };
        assert_eq!(c.summary(), "Lisbon · 250,000–600,000");
    }

    fn facts() -> ListingFacts {
        ListingFacts::from_document(&ListingDocument::example("A-1"))
    }

    #[test]
    fn normalize_lowercases_and_collapses() {
        assert_eq!(normalize("  São   PAULO \t"), "são paulo");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn empty_criteria_match_active_listings_only() {
        let c = SearchCriteria::default();
        assert!(c.is_empty());
        assert!(c.matches(&facts()));
        let sold = ListingFacts {
            status: StandardStatus::Sold,
            ..facts()
        };
        assert!(!c.matches(&sold));
    }

    #[test]
    fn every_criterion_narrows() {
        let f = facts(); // sale, apartment, lisbon/alfama, 350000, 84.5 m², 2 bedrooms
        let yes = |c: SearchCriteria| assert!(c.normalized().matches(&f), "{c:?}");
        let no = |c: SearchCriteria| assert!(!c.normalized().matches(&f), "{c:?}");
        yes(SearchCriteria {
            transaction_type: Some(TransactionType::Sale),
            city: Some(" LISBON ".into()),
            district: Some("alfama".into()),
            property_types: vec![PropertyType::House, PropertyType::Apartment],
            min_price: Some(350_000),
            max_price: Some(350_000),
            min_living_area: Some(84.5),
            max_living_area: Some(90.0),
            min_bedrooms: Some(2),
            keywords: vec!["River".into(), "TRAM".into()],
        });
        no(SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            ..Default::default()
        });
        no(SearchCriteria {
            city: Some("Porto".into()),
            ..Default::default()
        });
        no(SearchCriteria {
            district: Some("Baixa".into()),
            ..Default::default()
        });
        no(SearchCriteria {
            property_types: vec![PropertyType::House],
            ..Default::default()
        });
        no(SearchCriteria {
            max_price: Some(349_999),
            ..Default::default()
        });
        no(SearchCriteria {
            min_price: Some(350_001),
            ..Default::default()
        });
        no(SearchCriteria {
            min_living_area: Some(85.0),
            ..Default::default()
        });
        no(SearchCriteria {
            min_bedrooms: Some(3),
            ..Default::default()
        });
        no(SearchCriteria {
            keywords: vec!["river".into(), "garden".into()],
            ..Default::default()
        });
    }

    #[test]
    fn unknown_facts_do_not_meet_bounds() {
        let f = ListingFacts {
            living_area: None,
            bedrooms: None,
            district: None,
            ..facts()
        };
        for c in [
            SearchCriteria {
                max_living_area: Some(1000.0),
                ..Default::default()
            },
            SearchCriteria {
                min_bedrooms: Some(0),
                ..Default::default()
            },
            SearchCriteria {
                district: Some("alfama".into()),
                ..Default::default()
            },
        ] {
            assert!(!c.normalized().matches(&f), "{c:?}");
        }
    }

    #[test]
    fn validation_names_fields() {
        let bad = |c: SearchCriteria| c.validate().unwrap_err().field;
        assert_eq!(
            bad(SearchCriteria {
                min_price: Some(10),
                max_price: Some(5),
                ..Default::default()
            }),
            "max_price"
        );
        assert_eq!(
            bad(SearchCriteria {
                city: Some("   ".into()),
                ..Default::default()
            }),
            "city"
        );
        assert_eq!(
            bad(SearchCriteria {
                keywords: vec!["k".into(); 11],
                ..Default::default()
            }),
            "keywords"
        );
        assert_eq!(
            bad(SearchCriteria {
                min_living_area: Some(f64::INFINITY),
                ..Default::default()
            }),
            "min_living_area"
        );
    }

    #[test]
    fn normal_form_is_canonical() {
        let a = SearchCriteria {
            city: Some("Lisbon ".into()),
            property_types: vec![
                PropertyType::House,
                PropertyType::Apartment,
                PropertyType::House,
            ],
            keywords: vec!["b".into(), "A".into(), "a".into()],
            ..Default::default()
        };
        let n = a.normalized();
        assert_eq!(n.city.as_deref(), Some("lisbon"));
        assert_eq!(
            n.property_types,
            vec![PropertyType::Apartment, PropertyType::House]
        );
        assert_eq!(n.keywords, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(n.normalized(), n);
    }

    #[test]
    fn criteria_json_is_compact_and_strict() {
        let c = SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            max_price: Some(1500),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"transaction_type":"Rent","max_price":1500}"#
        );
        assert!(serde_json::from_str::<SearchCriteria>(r#"{"colour":"red"}"#).is_err());
    }
}
