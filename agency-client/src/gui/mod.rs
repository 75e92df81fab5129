//! The desktop window (`agency-client gui`): five views over the same core library the command
//! line uses: own listings (and a search over everyone's, here or on the platform, with each
//! agency's signature state), customers, hints, sync and the certificate.
//!
//! All state lives in [`App`]; [`App::ui`] draws one frame and can be driven without a window
//! (the tests use `egui_kittest`). Work that talks to the platform runs on a background thread
//! (see [`jobs`]) so the window stays responsive and shows progress.
//!
//! * here: the shell (navigation, status line, passphrase prompt, background job outcomes) and
//!   the state every view draws from;
//! * [`views`]: one file per view (listings, customers, hints, sync, certificate);
//! * [`criteria`]: the criteria grid shared by the search and a tenant's wishes;
//! * [`form`]: the add/edit listing form; [`jobs`]: the background work.

pub mod criteria;
pub mod form;
pub mod jobs;
pub mod views;

use eframe::egui;

use crate::customers::{Customer, Hint};
use crate::db::Store;
use crate::error::ClientError;
use crate::identity;
use crate::listings::{self, OwnListing};
use crate::search;
use criteria::CriteriaForm;
use form::ListingForm;
use jobs::{Job, JobDone, JobKind};
use views::certificate::CertificateView;
use views::customers::{CustomerForm, WishesEdit};
use views::listings::{FoundView, SharedCounts};

/// The views, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Own listings.
    Listings,
    /// Owners and tenants.
    Customers,
    /// Open hints.
    Hints,
    /// Publishing and pulling.
    Sync,
    /// The desk's certificate.
    Certificate,
}

impl View {
    /// Every view.
    pub const ALL: [View; 5] = [
        View::Listings,
        View::Customers,
        View::Hints,
        View::Sync,
        View::Certificate,
    ];

    /// The view named `name` (its title, any case).
    pub fn from_name(name: &str) -> Option<View> {
        View::ALL
            .into_iter()
            .find(|v| v.title().eq_ignore_ascii_case(name))
    }

    /// Its name in the navigation.
    pub fn title(self) -> &'static str {
        match self {
            View::Listings => "Listings",
            View::Customers => "Customers",
            View::Hints => "Hints",
            View::Sync => "Sync",
            View::Certificate => "Certificate",
        }
    }
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something worked.
    Info(String),
    /// Something failed; the text says what to do.
    Problem(String),
}

/// Something that needs the key, waiting for the passphrase.
#[derive(Debug, Clone, PartialEq)]
struct PendingKey(JobKind);

/// The whole window's state.
pub struct App {
    store: Store,
    servers: Vec<String>,
    /// The view shown.
    pub view: View,
    notice: Option<Notice>,
    listings: Vec<OwnListing>,
    /// Own listings whose change met another desk's newer version.
    conflicts: Vec<crate::conflicts::ListingConflict>,
    form: ListingForm,
    /// The form was just filled for an edit: scroll it into view.
    scroll_to_form: bool,
    customers: Vec<Customer>,
    wishes: Option<WishesEdit>,
    /// Problems with the wishes being edited, by form label.
    wishes_errors: std::collections::BTreeMap<String, String>,
    customer_form: Option<CustomerForm>,
    /// The customer whose removal waits for confirmation.
    confirm_remove: Option<i32>,
    hints: Vec<Hint>,
    search_form: CriteriaForm,
    found: Option<FoundView>,
    shared: SharedCounts,
    queued: usize,
    updates: Option<i64>,
    last_sync: Option<String>,
    /// The vault's last sync in this window.
    vault: Option<crate::vault::VaultSyncReport>,
    /// The vault's open conflicts.
    vault_conflicts: Vec<crate::vault::ConflictView>,
    /// The vault desk whose removal waits for confirmation.
    confirm_desk_removal: Option<crate::vault::DeskView>,
    certificate: Option<CertificateView>,
    passphrase: Option<String>,
    passphrase_input: String,
    pending: Option<PendingKey>,
    job: Option<Job>,
    repaint: Option<egui::Context>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .field("view", &self.view)
            .field("notice", &self.notice)
            .finish_non_exhaustive()
    }
}

/// Plain words for an error, for people who do not read error codes.
pub fn plain_words(e: &ClientError) -> String {
    match e {
        ClientError::NoPassphrase(_) => "The key passphrase is needed for this.".into(),
        ClientError::WrongPassphrase => {
            "The passphrase is wrong. Please enter it again (it is the one chosen at enrolment)."
                .into()
        }
        ClientError::NotEnrolled => {
            "This desk is not enrolled yet. Ask the platform operator for an enrolment token, \
             then run `agency-client enroll` once."
                .into()
        }
        other => {
            let mut text = other.to_string();
            if let Some(first) = text.get(0..1) {
                text.replace_range(0..1, &first.to_uppercase());
            }
            if !text.ends_with('.') {
                text.push('.');
            }
            text
        }
    }
}

impl App {
    /// A window over `store`; `servers`, when not empty, replace the stored endpoints when the
    /// platform is first contacted.
    pub fn new(store: Store, servers: Vec<String>) -> App {
        let mut app = App {
            store,
            servers,
            view: View::Listings,
            notice: None,
            listings: Vec::new(),
            conflicts: Vec::new(),
            form: ListingForm::default(),
            scroll_to_form: false,
            customers: Vec::new(),
            wishes: None,
            wishes_errors: Default::default(),
            customer_form: None,
            confirm_remove: None,
            hints: Vec::new(),
            search_form: CriteriaForm::default(),
            found: None,
            shared: SharedCounts::default(),
            queued: 0,
            updates: None,
            last_sync: None,
            vault: None,
            vault_conflicts: Vec::new(),
            confirm_desk_removal: None,
            certificate: None,
            passphrase: None,
            passphrase_input: String::new(),
            pending: None,
            job: None,
            repaint: None,
        };
        app.reload();
        app
    }

    /// The database, for callers that want to look at what the window stored.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The status line's message.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// True while background work runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    fn problem(&mut self, e: &ClientError) {
        self.notice = Some(Notice::Problem(plain_words(e)));
    }

    /// Reads everything shown again from the database.
    pub fn reload(&mut self) {
        let conn = self.store.conn();
        let result = (|| -> Result<_, ClientError> {
            let l = listings::list(conn)?;
            let c = crate::customers::list(conn)?;
            let h = crate::customers::list_hints(conn, false)?;
            let q = listings::queue(conn)?.len();
            let (total, invalid, unchecked) = search::shared_counts(conn)?;
            let shared = SharedCounts {
                total,
                invalid,
                unchecked,
            };
            let cert = match identity::load(conn)? {
                Some(id) => {
                    let status = identity::status(conn, &id, false)?;
                    let subject = ca::inspect::parse_chain_pem(&id.chain_pem)
                        .ok()
                        .and_then(|c| c.into_iter().next())
                        .and_then(|der| ca::inspect::parse_certificate_der(&der).ok())
                        .map(|i| i.subject)
                        .unwrap_or_else(|| format!("agency {}", id.agency_id));
                    Some(CertificateView { subject, status })
                }
                None => None,
            };
            let conflicts = crate::conflicts::list(conn)?;
            let v = crate::vault::conflicts(conn)?;
            Ok((l, c, h, q, cert, shared, conflicts, v))
        })();
        match result {
            Ok((l, c, h, q, cert, shared, conflicts, v)) => {
                self.conflicts = conflicts;
                self.vault_conflicts = v;
                self.shared = shared;
                self.listings = l;
                self.customers = c;
                self.hints = h;
                self.queued = q;
                self.certificate = cert;
            }
            Err(e) => self.problem(&e),
        }
    }

    fn passphrase(&self) -> Option<String> {
        std::env::var("AGENCY_CLIENT_PASSPHRASE")
            .ok()
            .or_else(|| self.passphrase.clone())
    }

    /// Starts `kind` in the background, asking for the passphrase first when needed.
    pub fn start(&mut self, kind: JobKind) {
        if self.job.is_some() {
            return;
        }
        if self.certificate.is_none() {
            self.problem(&ClientError::NotEnrolled);
            return;
        }
        let Some(passphrase) = self.passphrase() else {
            self.pending = Some(PendingKey(kind));
            return;
        };
        let ctx = self.repaint.clone();
        self.notice = None;
        self.job = Some(Job::start(
            kind,
            self.store.data_dir().to_owned(),
            self.servers.clone(),
            passphrase,
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint();
                }
            },
        ));
    }

    fn poll_job(&mut self) {
        let Some(outcome) = self.job.as_ref().and_then(Job::take_outcome) else {
            return;
        };
        let Some(job) = self.job.take() else {
            return;
        };
        match outcome {
            Ok(JobDone::Watched(text)) => self.notice = Some(Notice::Info(text)),
            Ok(JobDone::Removed(text)) => {
                if let JobKind::Remove { id, .. } = job.kind {
                    self.close_forms_of(id);
                }
                self.notice = Some(Notice::Info(text));
            }
            Err(ClientError::Unreachable { url }) if job.kind.queues_nothing() => {
                self.notice = Some(Notice::Problem(job.kind.unreachable_words(&url)));
            }
            Ok(JobDone::Count(n)) => self.updates = Some(n),
            Ok(JobDone::VaultApproved(text)) => self.notice = Some(Notice::Info(text)),
            Ok(JobDone::VaultRemoved(text, report)) => {
                self.vault = Some(*report);
                self.notice = Some(Notice::Info(text));
            }
            Ok(JobDone::Synced(text)) => {
                if let Ok(mut state) = job.state.lock() {
                    self.vault = state.vault.take().or(self.vault.take());
                }
                self.updates = Some(0);
                self.notice = Some(Notice::Info("Sync finished.".into()));
                self.last_sync = Some(text);
            }
            Ok(JobDone::Renewed(text)) => self.notice = Some(Notice::Info(text)),
            Ok(JobDone::Found(r)) => self.show_remote_result(*r),
            Err(e) => {
                if matches!(e, ClientError::WrongPassphrase) {
                    self.passphrase = None;
                }
                if let ClientError::CertificateRevoked(note) = &e
                    && let Err(stored) = crate::identity::record_revoked(self.store.conn(), note)
                {
                    self.problem(&stored);
                    return;
                }
                self.problem(&e);
            }
        }
        self.reload();
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.repaint.is_none() {
            self.repaint = Some(ui.ctx().clone());
        }
        self.poll_job();
        egui::Panel::left("navigation")
            .resizable(false)
            .show(ui, |ui| {
                ui.add_space(8.0);
                ui.strong("Agency desk");
                ui.separator();
                for v in View::ALL {
                    let mut title = v.title().to_owned();
                    if v == View::Hints && !self.hints.is_empty() {
                        title = format!("Hints ({})", self.hints.len());
                    }
                    if ui.selectable_label(self.view == v, title).clicked() {
                        self.view = v;
                        self.reload();
                    }
                }
            });
        egui::Panel::bottom("status").show(ui, |ui| match &self.notice {
            Some(Notice::Info(t)) => {
                ui.label(t);
            }
            Some(Notice::Problem(t)) => {
                ui.colored_label(ui.visuals().error_fg_color, t);
            }
            None => {
                ui.label("Ready.");
            }
        });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| match self.view {
                View::Listings => self.listings_view(ui),
                View::Customers => self.customers_view(ui),
                View::Hints => self.hints_view(ui),
                View::Sync => self.sync_view(ui),
                View::Certificate => self.certificate_view(ui),
            });
        });
        self.passphrase_prompt(ui);
        if self.job.is_some() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(200));
        }
    }

    fn passphrase_prompt(&mut self, ui: &mut egui::Ui) {
        let Some(PendingKey(kind)) = self.pending.clone() else {
            return;
        };
        let mut go = false;
        let mut cancel = false;
        egui::Window::new("Key passphrase")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ui.ctx(), |ui| {
                ui.label("Enter the passphrase that protects this desk's key.");
                let label = ui.label("Passphrase");
                let r = ui
                    .add(egui::TextEdit::singleline(&mut self.passphrase_input).password(true))
                    .labelled_by(label.id);
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    go = true;
                }
                ui.horizontal(|ui| {
                    go |= ui.button("Unlock").clicked();
                    cancel = ui.button("Cancel").clicked();
                });
            });
        if go && !self.passphrase_input.is_empty() {
            self.passphrase = Some(std::mem::take(&mut self.passphrase_input));
            self.pending = None;
            self.start(kind);
        } else if cancel {
            self.passphrase_input.clear();
            self.pending = None;
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        App::ui(self, ui);
    }
}

/// Opens the window over `store` on `view` and returns when it is closed.
pub fn run(store: Store, servers: Vec<String>, view: View) -> Result<(), ClientError> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Agency desk")
            .with_inner_size([1100.0, 720.0]),
        ..Default::default()
    };
    let mut app = App::new(store, servers);
    app.view = view;
    eframe::run_native(
        "agency-client",
        options,
        Box::new(move |_cc| Ok(Box::new(app))),
    )
    .map_err(|e| {
        ClientError::Storage(format!(
            "cannot open the window ({e}); is a graphical display available?"
        ))
    })
}
