//! The Sync view: updates waiting on the platform, own changes queued, and publishing and
//! pulling in the background with its progress.

use eframe::egui;

use crate::gui::App;
use crate::gui::jobs::JobKind;

impl App {
    pub(in crate::gui) fn sync_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Sync with the platform");
        match self.updates {
            Some(n) => ui.label(format!("{n} updates available")),
            None => ui.label("Updates available: not asked yet"),
        };
        let changed = self
            .listings
            .iter()
            .filter(|l| matches!(l.state.as_str(), "draft" | "changed"))
            .count();
        ui.label(format!(
            "{} change(s) queued, {changed} listing(s) changed here",
            self.queued
        ));
        ui.add_space(8.0);
        let busy = self.job.is_some();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Check for updates"))
                .clicked()
            {
                self.start(JobKind::CountUpdates);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Publish queued and pull"))
                .clicked()
            {
                self.start(JobKind::PublishAndPull);
            }
        });
        if let Some(job) = &self.job {
            let (phase, done, total) = job
                .state
                .lock()
                .map(|s| (s.phase.clone(), s.done, s.total))
                .unwrap_or_default();
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(job.kind.title());
            });
            ui.label(&phase);
            if total > 0 {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total as f32)
                        .show_percentage()
                        .text(format!("{done} of {total} updates")),
                );
            }
        }
        if let Some(text) = &self.last_sync {
            ui.add_space(8.0);
            ui.strong("Last sync");
            ui.label(text);
        }
        self.vault_section(ui);
    }
}
