//! The Certificate view: the desk's certificate (subject, serial, validity, root CA, endpoints),
//! REVOKED with what to do once the platform refused it, and renewal now.

use eframe::egui;

use crate::error::ClientError;
use crate::gui::jobs::JobKind;
use crate::gui::{App, plain_words};
use crate::identity::CertificateStatus;

/// The certificate as shown.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// The certificate's subject.
    pub subject: String,
    /// Serial, validity, endpoints.
    pub status: CertificateStatus,
}

impl App {
    pub(in crate::gui) fn certificate_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Desk certificate");
        let Some(cert) = &self.certificate else {
            ui.label(plain_words(&ClientError::NotEnrolled));
            return;
        };
        let s = &cert.status;
        egui::Grid::new("certificate")
            .num_columns(2)
            .show(ui, |ui| {
                for (k, v) in [
                    ("Subject", cert.subject.clone()),
                    ("Agency", s.agency_id.to_string()),
                    ("Serial", s.serial.clone()),
                    ("Valid from", s.not_before.clone()),
                    ("Expires", s.not_after.clone()),
                    ("Days left", s.days_left.to_string()),
                    ("Root CA", s.root_fingerprint.clone()),
                    ("Endpoints", s.endpoints.join(", ")),
                ] {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                }
            });
        if let Some(r) = &s.revoked {
            ui.add_space(6.0);
            ui.colored_label(
                egui::Color32::from_rgb(0xb0, 0x00, 0x20),
                format!(
                    "REVOKED: the platform refuses this certificate (learned {}): {}",
                    r.learned_at, r.note
                ),
            );
            ui.label(
                "Ask the platform operator for a new enrolment token and run `agency-client \
                 enroll` again; your listings and customers stay on this desk.",
            );
        } else if s.renewal_due {
            ui.label("Renewal is due; it happens on the next sync, or now with the button.");
        }
        let busy = self.job.is_some();
        if ui
            .add_enabled(!busy, egui::Button::new("Renew certificate now"))
            .clicked()
        {
            self.start(JobKind::Renew);
        }
        if let Some(job) = &self.job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(job.kind.title());
            });
        }
    }
}
