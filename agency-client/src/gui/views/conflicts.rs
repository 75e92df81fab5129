//! The conflicts panel of the Listings view: each own listing whose change met a newer version
//! another desk published, this desk's version and the platform's side by side (differing fields
//! marked), and the choice: keep mine (sent with the next sync, on top of theirs), keep theirs,
//! or merge (edit mine, or start from theirs, in the listing form; then keep mine).

use api_types::ListingDocument;
use eframe::egui;

use crate::conflicts::{self, Keep, ListingConflict};
use crate::gui::form::ListingForm;
use crate::gui::{App, Notice};

/// The rows compared: label and the field's value in a document.
fn rows(doc: &ListingDocument) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ("Status", doc.standard_status.code().replace('_', " ")),
        ("Price", format!("{} {}", doc.list_price, doc.currency)),
        ("Type", doc.transaction_type.code().to_owned()),
        ("Property", doc.property_type.code().to_owned()),
        ("City", doc.city.clone()),
        ("District", opt(&doc.district)),
        ("Address", opt(&doc.unparsed_address)),
        ("Title", doc.title.clone()),
        ("Description", doc.public_remarks.clone()),
        (
            "Modified",
            doc.modification_timestamp
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        ),
    ]
}

/// What staff chose for one conflict.
enum Choice {
    Keep(Keep),
    /// Load this document into the form (editing the listing), to merge.
    Edit(Box<ListingDocument>),
}

impl App {
    /// Draws the listings in conflict, if any, and carries out the choice made.
    pub(in crate::gui) fn conflicts_ui(&mut self, ui: &mut egui::Ui) {
        if self.conflicts.is_empty() {
            return;
        }
        ui.heading(format!("Conflicts ({})", self.conflicts.len()));
        ui.label(
            "Another desk of the agency changed these listings before this desk's change reached \
             the platform. Nothing was overwritten. Keep one version, or merge: edit yours (or \
             start from theirs) in the form below, save, then keep yours.",
        );
        let red = ui.visuals().error_fg_color;
        let mut chosen: Option<(String, Choice)> = None;
        for c in &self.conflicts {
            ui.separator();
            ui.strong(conflict_heading(c));
            let mine = rows(&c.mine);
            let theirs = c.theirs.as_ref().map(|t| rows(&t.document));
            egui::Grid::new(format!("conflict_{}", c.listing_key))
                .striped(true)
                .num_columns(3)
                .show(ui, |ui| {
                    ui.strong("");
                    ui.strong("Mine (this desk)");
                    ui.strong(match &c.theirs {
                        Some(t) => format!("Theirs (platform version {})", t.version),
                        None => "Theirs (not on the platform)".to_owned(),
                    });
                    ui.end_row();
                    for (i, (label, value)) in mine.iter().enumerate() {
                        let other = theirs.as_ref().map(|t| t[i].1.as_str()).unwrap_or("");
                        let differs = other != value;
                        ui.label(*label);
                        if differs {
                            ui.colored_label(red, value);
                            ui.colored_label(red, other);
                        } else {
                            ui.label(value);
                            ui.label(other);
                        }
                        ui.end_row();
                    }
                });
            if let Some(t) = &c.theirs
                && !t.signature.is_verified()
            {
                ui.colored_label(red, format!("Theirs: {}", t.signature.text()));
            }
            ui.horizontal(|ui| {
                let key = c.listing_key.clone();
                if ui
                    .button(format!("Keep mine ({})", c.listing_key))
                    .clicked()
                {
                    chosen = Some((key.clone(), Choice::Keep(Keep::Mine)));
                }
                let can_take = c.theirs.as_ref().is_some_and(|t| t.signature.is_verified());
                if ui
                    .add_enabled(
                        can_take,
                        egui::Button::new(format!("Keep theirs ({})", c.listing_key)),
                    )
                    .clicked()
                {
                    chosen = Some((key.clone(), Choice::Keep(Keep::Theirs)));
                }
                if ui
                    .button(format!("Edit mine ({})", c.listing_key))
                    .clicked()
                {
                    chosen = Some((key.clone(), Choice::Edit(Box::new(c.mine.clone()))));
                }
                if let Some(t) = &c.theirs
                    && ui
                        .button(format!("Start from theirs ({})", c.listing_key))
                        .clicked()
                {
                    chosen = Some((key, Choice::Edit(Box::new(t.document.clone()))));
                }
            });
        }
        ui.separator();
        let Some((key, choice)) = chosen else {
            return;
        };
        match choice {
            Choice::Edit(doc) => {
                self.form = ListingForm::from_listing(&doc);
                self.scroll_to_form = true;
                self.notice = Some(Notice::Info(format!(
                    "Merging listing {key}: change the form, save, then press Keep mine."
                )));
            }
            Choice::Keep(keep) => {
                match conflicts::resolve(self.store.conn(), &key, keep) {
                    Ok(r) => {
                        self.notice = Some(Notice::Info(match r.kept {
                            Keep::Mine => format!(
                                "Kept this desk's version of {key}; it goes to the platform with the next sync, on top of the other desk's."
                            ),
                            Keep::Theirs => format!(
                                "Kept the other desk's version of {key}; it is now this desk's copy."
                            ),
                        }));
                    }
                    Err(e) => self.problem(&e),
                }
                self.reload();
            }
        }
    }
}

fn conflict_heading(c: &ListingConflict) -> String {
    format!(
        "Listing {}: this desk's {} (made on {}) met a newer version",
        c.listing_key,
        c.action,
        c.base_version
            .map_or("no version: a first publish".to_owned(), |v| format!(
                "version {v}"
            ))
    )
}
