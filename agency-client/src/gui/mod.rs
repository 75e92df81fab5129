//! The desktop window (`agency-client gui`): five views over the same core library the command
//! line uses: own listings (and a search over everyone's, here or on the platform, with each
//! agency's signature state), customers, hints, sync and the certificate.
//!
//! All state lives in [`App`]; [`App::ui`] draws one frame and can be driven without a window
//! (the tests use `egui_kittest`). Work that talks to the platform runs on a background thread
//! (see [`jobs`]) so the window stays responsive and shows progress.

pub mod form;
pub mod jobs;
pub mod views;

use api_types::search::SearchCriteria;
use api_types::{PropertyType, StandardStatus, TransactionType};
use eframe::egui;

use crate::customers::{Customer, Hint};
use crate::db::Store;
use crate::error::ClientError;
use crate::identity::{self, CertificateStatus};
use crate::listings::{self, OwnListing};
use crate::search::{self, Found};
use crate::signatures::{INVALID, VERIFIED};
use form::{FIELDS, ListingForm};
use jobs::{Job, JobDone, JobKind};

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

/// A tenant's wishes as text fields.
#[derive(Debug, Clone, Default)]
pub struct WishesForm {
    /// The tenant.
    pub customer_id: i32,
    /// `sale`, `rent` or empty for either.
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

impl WishesForm {
    fn from_customer(c: &Customer) -> WishesForm {
        let w = c.wishes.clone().unwrap_or_default();
        let s = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        WishesForm {
            customer_id: c.id,
            transaction_type: w.transaction_type,
            city: w.city.unwrap_or_default(),
            district: w.district.unwrap_or_default(),
            min_price: s(w.min_price),
            max_price: s(w.max_price),
            min_bedrooms: w.min_bedrooms.map(|n| n.to_string()).unwrap_or_default(),
            keywords: w.keywords.join(", "),
            property_types: w.property_types,
            area: (w.min_living_area, w.max_living_area),
        }
    }

    fn to_criteria(&self) -> Result<SearchCriteria, ClientError> {
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
}

/// The certificate as shown.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// The certificate's subject.
    pub subject: String,
    /// Serial, validity, endpoints.
    pub status: CertificateStatus,
}

/// Something that needs the key, waiting for the passphrase.
#[derive(Debug, Clone, PartialEq)]
struct PendingKey(JobKind);

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
struct SharedCounts {
    total: i64,
    invalid: i64,
    unchecked: i64,
}

/// The whole window's state.
pub struct App {
    store: Store,
    servers: Vec<String>,
    /// The view shown.
    pub view: View,
    notice: Option<Notice>,
    listings: Vec<OwnListing>,
    form: ListingForm,
    /// The form was just filled for an edit: scroll it into view.
    scroll_to_form: bool,
    customers: Vec<Customer>,
    wishes: Option<WishesForm>,
    /// Problems with the wishes being edited, by form label.
    wishes_errors: std::collections::BTreeMap<String, String>,
    customer_form: Option<views::customers::CustomerForm>,
    /// The customer whose removal waits for confirmation.
    confirm_remove: Option<i32>,
    hints: Vec<Hint>,
    search_form: WishesForm,
    found: Option<FoundView>,
    shared: SharedCounts,
    queued: usize,
    updates: Option<i64>,
    last_sync: Option<String>,
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
            form: ListingForm::default(),
            scroll_to_form: false,
            customers: Vec::new(),
            wishes: None,
            wishes_errors: Default::default(),
            customer_form: None,
            confirm_remove: None,
            hints: Vec::new(),
            search_form: WishesForm::default(),
            found: None,
            shared: SharedCounts::default(),
            queued: 0,
            updates: None,
            last_sync: None,
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
            Ok((l, c, h, q, cert, shared))
        })();
        match result {
            Ok((l, c, h, q, cert, shared)) => {
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
            Ok(JobDone::Synced(text)) => {
                self.updates = Some(0);
                self.notice = Some(Notice::Info("Sync finished.".into()));
                self.last_sync = Some(text);
            }
            Ok(JobDone::Renewed(text)) => self.notice = Some(Notice::Info(text)),
            Ok(JobDone::Found(r)) => {
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

    fn listings_view(&mut self, ui: &mut egui::Ui) {
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
        let w = &mut self.search_form;
        egui::Grid::new("search_form")
            .num_columns(2)
            .show(ui, |ui| {
                let l = ui.label("Search: sale or rent");
                egui::ComboBox::from_id_salt("search_type")
                    .selected_text(w.transaction_type.map(|t| t.code()).unwrap_or("either"))
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut w.transaction_type, None, "either");
                        for t in TransactionType::ALL {
                            ui.selectable_value(&mut w.transaction_type, Some(t), t.code());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                for (label, value) in [
                    ("Search: city", &mut w.city),
                    ("Search: lowest price", &mut w.min_price),
                    ("Search: highest price", &mut w.max_price),
                    ("Search: keywords (comma-separated)", &mut w.keywords),
                ] {
                    let l = ui.label(label);
                    ui.text_edit_singleline(value).labelled_by(l.id);
                    ui.end_row();
                }
            });
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
                    ui.label(&f.listing.listing_key);
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

    fn hints_view(&mut self, ui: &mut egui::Ui) {
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

    fn sync_view(&mut self, ui: &mut egui::Ui) {
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
    }

    fn certificate_view(&mut self, ui: &mut egui::Ui) {
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
