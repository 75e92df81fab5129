//! The Listings view: the agency's own listings (status changes and withdrawals from the table),
//! the add/edit form, and a search over everyone's listings, here (pulled listings) or on the
//! platform (in the background), each with its agency's signature state.

use api_types::{PropertyType, StandardStatus, TransactionType};
use eframe::egui;

use crate::gui::criteria::{SEARCH, criteria_grid};
use crate::gui::form::{FIELDS, ListingForm};
use crate::gui::jobs::JobKind;
use crate::gui::{App, Notice};
use crate::listings;
use crate::search::{self, Found, RemoteSearchResult};
use crate::signatures::{INVALID, VERIFIED};

/// Results of the last search over everyone's listings, here or on the platform.
#[derive(Debug, Clone)]
pub struct FoundView {
    /// What was searched and how many matched, in plain words.
    pub heading: String,
    /// The listings shown, each with its signature state.
    pub listings: Vec<Found>,
}

/// Everyone's listings pulled to this desk: how many, and how many failed their signature check.
#[derive(Debug, Clone, Copy, Default)]
pub struct SharedCounts {
    /// Listings pulled.
    pub total: i64,
    /// Of which with an invalid signature.
    pub invalid: i64,
    /// Of which not checked yet.
    pub unchecked: i64,
}

impl App {
    pub(in crate::gui) fn listings_view(&mut self, ui: &mut egui::Ui) {
        self.conflicts_ui(ui);
        ui.heading("Own listings");
        if self.listings.is_empty() {
            ui.label("No listings yet; add one with the form at the bottom.");
        }
        let mut action: Option<(String, Option<StandardStatus>)> = None;
        let mut edit: Option<usize> = None;
        egui::Grid::new("own_listings")
            .striped(true)
            .num_columns(7)
            .show(ui, |ui| {
                for h in ["Key", "State", "Status", "Price", "City", "Title", ""] {
                    ui.strong(h);
                }
                ui.end_row();
                for (i, l) in self.listings.iter().enumerate() {
                    ui.label(&l.listing_key);
                    let state = ui.label(&l.state);
                    if let Some(e) = &l.last_error {
                        state.on_hover_text(format!("Refused by the platform: {e}"));
                    }
                    ui.label(l.document.standard_status.code().replace('_', " "));
                    ui.label(format!("{} {}", l.document.list_price, l.document.currency));
                    ui.label(&l.document.city);
                    ui.label(&l.document.title);
                    ui.horizontal(|ui| {
                        if ui.button("Edit").clicked() {
                            edit = Some(i);
                        }
                        if l.state != "withdrawn" {
                            ui.menu_button("Status", |ui| {
                                for s in StandardStatus::ALL {
                                    if s != StandardStatus::Withdrawn
                                        && ui.button(s.code().replace('_', " ")).clicked()
                                    {
                                        action = Some((l.listing_key.clone(), Some(s)));
                                    }
                                }
                            });
                            if ui.button("Withdraw").clicked() {
                                action = Some((l.listing_key.clone(), None));
                            }
                        }
                    });
                    ui.end_row();
                }
            });
        if let Some(i) = edit {
            self.form = ListingForm::from_listing(&self.listings[i].document);
            self.scroll_to_form = true;
        }
        if let Some((key, status)) = action {
            let conn = self.store.conn();
            let r = match status {
                Some(s) => listings::edit(conn, &key, |d| d.standard_status = s),
                None => listings::withdraw(conn, &key),
            };
            match r {
                Ok(l) => {
                    self.notice = Some(Notice::Info(format!(
                        "Listing {} is now {}; it goes to the platform with the next sync.",
                        l.listing_key,
                        l.document.standard_status.code().replace('_', " ")
                    )))
                }
                Err(e) => self.problem(&e),
            }
            self.reload();
        }
        ui.separator();
        self.everyone_ui(ui);
        ui.separator();
        self.form_ui(ui);
    }

    /// Everyone's listings: a search here (pulled listings) or on the platform, with each
    /// listing's signature state; an invalid signature is shown in red with its reason.
    fn everyone_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Everyone's listings");
        let s = self.shared;
        ui.label(format!(
            "{} listing(s) pulled to this desk; {} with an invalid signature; {} not checked yet.",
            s.total, s.invalid, s.unchecked
        ));
        criteria_grid(ui, "search_form", &SEARCH, &mut self.search_form, None);
        let busy = self.job.is_some();
        let (mut here, mut remote) = (false, false);
        ui.horizontal(|ui| {
            here = ui.button("Search here").clicked();
            remote = ui
                .add_enabled(!busy, egui::Button::new("Search on platform"))
                .clicked();
            if let Some(job) = &self.job
                && matches!(job.kind, JobKind::RemoteSearch(_))
            {
                ui.spinner();
                let phase = job
                    .state
                    .lock()
                    .map(|s| s.phase.clone())
                    .unwrap_or_default();
                ui.label(phase);
            }
        });
        if here || remote {
            match self.search_form.to_criteria() {
                Err(e) => self.problem(&e),
                Ok(criteria) if remote => self.start(JobKind::RemoteSearch(criteria)),
                Ok(criteria) => match search::search(self.store.conn(), &criteria, 100) {
                    Ok(r) => {
                        self.notice = None;
                        self.found = Some(FoundView {
                            heading: format!(
                                "{} listing(s) pulled here match {} ({} shown)",
                                r.total,
                                r.summary,
                                r.listings.len()
                            ),
                            listings: r.listings,
                        });
                    }
                    Err(e) => self.problem(&e),
                },
            }
        }
        let Some(found) = &self.found else {
            return;
        };
        ui.strong(&found.heading);
        let red = ui.visuals().error_fg_color;
        egui::Grid::new("found")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for h in ["Agency", "Listing", "Title", "Price", "City", "Signature"] {
                    ui.strong(h);
                }
                ui.end_row();
                for f in &found.listings {
                    ui.label(&f.office_name);
                    ui.label(f.listing.listing_key.as_str());
                    ui.label(&f.listing.title);
                    ui.label(format!("{} {}", f.listing.list_price, f.listing.currency));
                    ui.label(&f.listing.city);
                    match f.signature.state.as_str() {
                        VERIFIED if f.removal_refused.is_some() => {
                            ui.colored_label(red, "verified; unsigned removal refused")
                                .on_hover_text(f.removal_refused.as_deref().unwrap_or_default());
                        }
                        VERIFIED => {
                            ui.label("verified");
                        }
                        INVALID => {
                            ui.colored_label(red, f.signature.text());
                        }
                        _ => {
                            ui.label("not checked").on_hover_text(f.signature.text());
                        }
                    }
                    ui.end_row();
                }
            });
    }

    fn form_ui(&mut self, ui: &mut egui::Ui) {
        let heading = match &self.form.editing {
            Some(k) => ui.heading(format!("Edit listing {k}")),
            None => ui.heading("New listing"),
        };
        if std::mem::take(&mut self.scroll_to_form) {
            heading.scroll_to_me(Some(egui::Align::TOP));
        }
        let form = &mut self.form;
        let red = ui.visuals().error_fg_color;
        egui::Grid::new("listing_form")
            .num_columns(3)
            .show(ui, |ui| {
                let l = ui.label("Type");
                egui::ComboBox::from_id_salt("transaction_type")
                    .selected_text(form.transaction_type.code())
                    .show_ui(ui, |ui| {
                        for t in TransactionType::ALL {
                            ui.selectable_value(&mut form.transaction_type, t, t.code());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                let l2 = ui.label("Property");
                egui::ComboBox::from_id_salt("property_type")
                    .selected_text(form.property_type.code())
                    .show_ui(ui, |ui| {
                        for p in PropertyType::ALL {
                            ui.selectable_value(&mut form.property_type, p, p.code());
                        }
                    })
                    .response
                    .labelled_by(l2.id);
                ui.end_row();
                for (field, label) in FIELDS {
                    let l = ui.label(label);
                    let value = form.values.entry(field).or_default();
                    let enabled = !(field == "ListingKey" && form.editing.is_some());
                    let edit = if field == "PublicRemarks" {
                        egui::TextEdit::multiline(value).desired_rows(3)
                    } else {
                        egui::TextEdit::singleline(value)
                    };
                    ui.add_enabled(enabled, edit).labelled_by(l.id);
                    if let Some(e) = form.errors.get(field) {
                        ui.colored_label(red, format!("{label} {e}"));
                    }
                    ui.end_row();
                }
            });
        if let Some(e) = form.errors.get("document") {
            ui.colored_label(red, e);
        }
        ui.horizontal(|ui| {
            if ui.button("Save listing").clicked() {
                match self.form.save(self.store.conn()) {
                    Ok(l) => {
                        self.notice = Some(Notice::Info(format!(
                            "Listing {} saved ({}); it goes to the platform with the next sync.",
                            l.listing_key, l.state
                        )));
                        self.form = ListingForm::default();
                        self.reload();
                    }
                    Err(e) => self.problem(&e),
                }
            }
            if ui.button("Clear form").clicked() {
                self.form = ListingForm::default();
            }
        });
    }

    /// Shows the answer of a search on the platform.
    pub(in crate::gui) fn show_remote_result(&mut self, r: RemoteSearchResult) {
        self.notice = Some(Notice::Info(if r.invalid > 0 {
            format!(
                "Search on the platform finished; {} listing(s) failed their agency's signature check and are marked INVALID.",
                r.invalid
            )
        } else {
            "Search on the platform finished.".into()
        }));
        self.found = Some(FoundView {
            heading: format!(
                "{}{} listing(s) on the platform match {} ({} shown)",
                r.total,
                if r.total_capped { "+" } else { "" },
                r.summary,
                r.listings.len()
            ),
            listings: r.listings,
        });
    }
}
