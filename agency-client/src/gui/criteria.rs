//! Search criteria in the window: the text fields ([`CriteriaForm`]) and the one grid that shows
//! them ([`criteria_grid`]), used for a search over everyone's listings (here or on the
//! platform), a new tenant's wishes, and *Edit wishes*. Each use labels the fields its own way
//! ([`SEARCH`], [`WISHES`]).

use std::collections::BTreeMap;

use api_types::search::SearchCriteria;
use api_types::{PropertyType, TransactionType};
use eframe::egui;

use crate::error::ClientError;

/// Criteria as text fields.
#[derive(Debug, Clone, Default)]
pub struct CriteriaForm {
    /// `sale`, `rent` or `None` for either.
    pub transaction_type: Option<TransactionType>,
    /// City.
    pub city: String,
    /// District.
    pub district: String,
    /// Lowest price.
    pub min_price: String,
    /// Highest price.
    pub max_price: String,
    /// Fewest bedrooms.
    pub min_bedrooms: String,
    /// Words, comma-separated.
    pub keywords: String,
    /// Property types (kept as they were).
    pub property_types: Vec<PropertyType>,
    /// Smallest and largest living area (kept as they were).
    pub area: (Option<f64>, Option<f64>),
}

impl CriteriaForm {
    /// A form filled from `criteria`.
    pub fn from_criteria(criteria: SearchCriteria) -> CriteriaForm {
        let s = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        CriteriaForm {
            transaction_type: criteria.transaction_type,
            city: criteria.city.unwrap_or_default(),
            district: criteria.district.unwrap_or_default(),
            min_price: s(criteria.min_price),
            max_price: s(criteria.max_price),
            min_bedrooms: criteria
                .min_bedrooms
                .map(|n| n.to_string())
                .unwrap_or_default(),
            keywords: criteria.keywords.join(", "),
            property_types: criteria.property_types,
            area: (criteria.min_living_area, criteria.max_living_area),
        }
    }

    /// The criteria the fields describe; a number that is not one is an input error naming the
    /// field (`Lowest price`, `Highest price`, `Fewest bedrooms`). Not checked further.
    pub fn to_criteria(&self) -> Result<SearchCriteria, ClientError> {
        fn num<T: std::str::FromStr>(field: &str, t: &str) -> Result<Option<T>, ClientError> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse().map(Some).map_err(|_| {
                ClientError::input(field, format!("must be a whole number, not {t:?}"))
            })
        }
        let text = |t: &str| Some(t.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(SearchCriteria {
            transaction_type: self.transaction_type,
            city: text(&self.city),
            district: text(&self.district),
            property_types: self.property_types.clone(),
            min_price: num("Lowest price", &self.min_price)?,
            max_price: num("Highest price", &self.max_price)?,
            min_living_area: self.area.0,
            max_living_area: self.area.1,
            min_bedrooms: num("Fewest bedrooms", &self.min_bedrooms)?,
            keywords: self
                .keywords
                .split(',')
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .collect(),
        })
    }

    fn text_mut(&mut self, field: Criterion) -> &mut String {
        match field {
            Criterion::City => &mut self.city,
            Criterion::District => &mut self.district,
            Criterion::MinPrice => &mut self.min_price,
            Criterion::MaxPrice => &mut self.max_price,
            Criterion::MinBedrooms => &mut self.min_bedrooms,
            Criterion::Keywords => &mut self.keywords,
        }
    }
}

/// A text field of [`CriteriaForm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// City.
    City,
    /// District.
    District,
    /// Lowest price.
    MinPrice,
    /// Highest price.
    MaxPrice,
    /// Fewest bedrooms.
    MinBedrooms,
    /// Keywords.
    Keywords,
}

impl Criterion {
    /// The field an error names: the criteria check's names (`min_price`, …) or
    /// [`CriteriaForm::to_criteria`]'s (`Lowest price`, …).
    pub fn named(field: &str) -> Option<Criterion> {
        Some(match field {
            "city" => Criterion::City,
            "district" => Criterion::District,
            "min_price" | "Lowest price" => Criterion::MinPrice,
            "max_price" | "Highest price" => Criterion::MaxPrice,
            "min_bedrooms" | "Fewest bedrooms" => Criterion::MinBedrooms,
            "keywords" => Criterion::Keywords,
            _ => return None,
        })
    }
}

/// Which fields a criteria grid shows, in order, and their labels (the labels are what people
/// and screen readers see, and what the window tests look for).
#[derive(Debug, Clone, Copy)]
pub struct CriteriaLabels {
    /// The label of the sale-or-rent choice.
    pub transaction_type: &'static str,
    /// The text fields shown, with their labels.
    pub fields: &'static [(Criterion, &'static str)],
}

impl CriteriaLabels {
    /// The label of `field`, when shown.
    pub fn label(&self, field: Criterion) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, label)| *label)
    }
}

/// The search over everyone's listings (Listings view).
pub const SEARCH: CriteriaLabels = CriteriaLabels {
    transaction_type: "Search: sale or rent",
    fields: &[
        (Criterion::City, "Search: city"),
        (Criterion::MinPrice, "Search: lowest price"),
        (Criterion::MaxPrice, "Search: highest price"),
        (Criterion::Keywords, "Search: keywords (comma-separated)"),
    ],
};

/// A tenant's wishes (Customers view: a new tenant, *Edit wishes*).
pub const WISHES: CriteriaLabels = CriteriaLabels {
    transaction_type: "Sale or rent",
    fields: &[
        (Criterion::City, "Wished city"),
        (Criterion::District, "Wished district"),
        (Criterion::MinPrice, "Lowest price"),
        (Criterion::MaxPrice, "Highest price"),
        (Criterion::MinBedrooms, "Fewest bedrooms"),
        (Criterion::Keywords, "Keywords (comma-separated)"),
    ],
};

/// Draws the criteria grid `id` for `form`, labelled by `labels`. With `errors` (problems by
/// label), each problem is shown in red next to its field.
pub fn criteria_grid(
    ui: &mut egui::Ui,
    id: &str,
    labels: &CriteriaLabels,
    form: &mut CriteriaForm,
    errors: Option<&BTreeMap<String, String>>,
) {
    let red = ui.visuals().error_fg_color;
    egui::Grid::new(id)
        .num_columns(if errors.is_some() { 3 } else { 2 })
        .show(ui, |ui| {
            let l = ui.label(labels.transaction_type);
            egui::ComboBox::from_id_salt((id, "type"))
                .selected_text(form.transaction_type.map(|t| t.code()).unwrap_or("either"))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut form.transaction_type, None, "either");
                    for t in TransactionType::ALL {
                        ui.selectable_value(&mut form.transaction_type, Some(t), t.code());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            for &(field, label) in labels.fields {
                let l = ui.label(label);
                ui.text_edit_singleline(form.text_mut(field))
                    .labelled_by(l.id);
                if let Some(errors) = errors {
                    match errors.get(label) {
                        Some(e) => ui.colored_label(red, e),
                        None => ui.label(""),
                    };
                }
                ui.end_row();
            }
        });
}
