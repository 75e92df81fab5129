//! The Hints view: open hints, each with a button to mark it not suitable (never hinted again).

use eframe::egui;

use crate::gui::{App, Notice};

impl App {
    pub(in crate::gui) fn hints_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Open hints");
        ui.label("Listings that fit a tenant's wishes. Mark the ones that do not suit as not suitable; they are not hinted again.");
        if self.hints.is_empty() {
            ui.label("No open hints.");
            return;
        }
        let mut dismiss = None;
        egui::Grid::new("hints")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for h in ["Tenant", "Listing", "Title", "Price", "City", ""] {
                    ui.strong(h);
                }
                ui.end_row();
                for h in &self.hints {
                    ui.label(&h.customer_name);
                    ui.label(format!("{}/{}", h.office_key, h.listing_key));
                    ui.label(&h.title);
                    ui.label(h.price.to_string());
                    ui.label(&h.city);
                    if ui.button("Not suitable").clicked() {
                        dismiss = Some(h.id);
                    }
                    ui.end_row();
                }
            });
        if let Some(id) = dismiss {
            match crate::customers::dismiss(self.store.conn(), id) {
                Ok(()) => {
                    self.notice = Some(Notice::Info(
                        "Marked not suitable; it will not be hinted again.".into(),
                    ))
                }
                Err(e) => self.problem(&e),
            }
            self.reload();
        }
    }
}
