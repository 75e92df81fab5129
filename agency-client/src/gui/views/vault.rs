//! The vault's part of the Sync view: this desk's place in the agency's vault, desks waiting
//! for access (approved here after comparing the fingerprint they show), the other desks (one
//! can be removed, after a confirmation: it loses access and the key is rotated), and
//! conflicts (a customer changed here and on another desk), where staff pick a side.

use eframe::egui;

use crate::gui::App;
use crate::gui::jobs::JobKind;
use crate::vault::{self, ConflictView, Keep};
use api_types::vault::VaultDeskState;

fn side(record: Option<&crate::customers::synced::CustomerRecord>) -> String {
    match record {
        None => "removed".into(),
        Some(r) => format!("{} ({}) {}", r.name, r.kind, r.contact),
    }
}

impl App {
    /// The confirmation step before a desk is removed from the vault.
    fn confirm_desk_removal_ui(&mut self, ui: &mut egui::Ui) {
        let Some(desk) = self.confirm_desk_removal.clone() else {
            return;
        };
        let busy = self.job.is_some();
        ui.group(|ui| {
            ui.strong(format!("Remove desk {} from the vault?", desk.desk));
            ui.label(format!(
                "Desk {} (fingerprint {}) loses access: the vault key is rotated at once and \
                 the customers are sealed anew, so it cannot read what is written from now on. \
                 What it already holds stays on it. To let it in again it must enrol anew.",
                desk.desk, desk.fingerprint
            ));
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        !busy,
                        egui::Button::new(format!("Yes, remove desk {}", desk.desk)),
                    )
                    .clicked()
                {
                    self.confirm_desk_removal = None;
                    self.start(JobKind::VaultRemove {
                        desk: desk.desk.clone(),
                        fingerprint: desk.fingerprint.clone(),
                    });
                }
                if ui.button(format!("Keep desk {}", desk.desk)).clicked() {
                    self.confirm_desk_removal = None;
                }
            });
        });
    }

    pub(in crate::gui) fn vault_section(&mut self, ui: &mut egui::Ui) {
        ui.add_space(12.0);
        ui.heading("Customers vault");
        let busy = self.job.is_some();
        match &self.vault {
            None => {
                ui.label(
                    "Not synced yet in this window: \"Publish queued and pull\" syncs it too.",
                );
            }
            Some(report) => {
                let state = match report.state.as_str() {
                    "none" => {
                        "Your agency has no vault yet (`agency-client vault init` creates it)."
                            .to_owned()
                    }
                    "waiting" => format!(
                        "This desk waits for access. On a desk with access, approve the \
                         fingerprint {}.",
                        report.fingerprint.as_deref().unwrap_or("-")
                    ),
                    "removed" => {
                        "This desk was removed from the vault; its customers no longer sync.".into()
                    }
                    _ => format!(
                        "In sync (key epoch {}): {} pulled, {} sent. This desk's fingerprint: {}.",
                        report.epoch,
                        report.pulled,
                        report.pushed,
                        report.fingerprint.as_deref().unwrap_or("-")
                    ),
                };
                ui.label(state);
                for id in &report.refused {
                    ui.colored_label(
                        egui::Color32::from_rgb(200, 60, 40),
                        format!(
                            "Record {id} did not authenticate: not applied, nothing changed here."
                        ),
                    );
                }
                let waiting = report.waiting.clone();
                let others: Vec<vault::DeskView> = report
                    .desks
                    .iter()
                    .filter(|d| !d.this_desk && d.state != VaultDeskState::Removed)
                    .cloned()
                    .collect();
                let approved = report.state == "approved";
                for desk in waiting {
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "Desk {} waits for access, fingerprint {}",
                            desk.desk, desk.fingerprint
                        ));
                        let approve = egui::Button::new(format!("Approve {}", desk.fingerprint));
                        if ui
                            .add_enabled(!busy, approve)
                            .on_hover_text(
                                "Compare this fingerprint with the one the new desk shows first",
                            )
                            .clicked()
                        {
                            self.start(JobKind::VaultApprove {
                                fingerprint: desk.fingerprint.clone(),
                            });
                        }
                    });
                }
                if approved {
                    for desk in others {
                        ui.horizontal(|ui| {
                            ui.label(format!(
                                "Desk {} ({}), fingerprint {}",
                                desk.desk,
                                desk.state.code(),
                                desk.fingerprint
                            ));
                            let remove = egui::Button::new(format!("Remove desk {}", desk.desk));
                            if ui
                                .add_enabled(!busy, remove)
                                .on_hover_text("The desk loses access to the customers: asks first")
                                .clicked()
                            {
                                self.confirm_desk_removal = Some(desk.clone());
                            }
                        });
                    }
                }
            }
        }
        self.confirm_desk_removal_ui(ui);
        let conflicts: Vec<ConflictView> = self.vault_conflicts.clone();
        if conflicts.is_empty() {
            return;
        }
        ui.add_space(8.0);
        ui.strong(format!("{} conflict(s): pick a side", conflicts.len()));
        for c in conflicts {
            ui.group(|ui| {
                ui.label(format!("Record {}", c.id));
                ui.label(format!("This desk: {}", side(c.mine.as_ref())));
                ui.label(format!("Other desk: {}", side(c.theirs.as_ref())));
                ui.horizontal(|ui| {
                    let mine = ui.button(format!("Keep mine ({})", c.id)).clicked();
                    let theirs = ui.button(format!("Keep theirs ({})", c.id)).clicked();
                    let keep = match (mine, theirs) {
                        (true, _) => Some(Keep::Mine),
                        (_, true) => Some(Keep::Theirs),
                        _ => None,
                    };
                    if let Some(keep) = keep {
                        match vault::resolve(self.store.conn(), &c.id, keep) {
                            Ok(_) => {
                                self.notice = Some(crate::gui::Notice::Info(match keep {
                                    Keep::Mine => {
                                        "Your side is kept; it is sent at the next sync.".into()
                                    }
                                    Keep::Theirs => "The other desk's side is kept.".into(),
                                }));
                                self.reload();
                            }
                            Err(e) => self.problem(&e),
                        }
                    }
                });
            });
        }
    }
}
