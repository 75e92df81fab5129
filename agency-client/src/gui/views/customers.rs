//! The Customers view: owners and tenants in a table; a form to add an owner (with the agency's
//! own listings to link) or a tenant (with wishes), or to change a name and contact; removal
//! after a confirmation; a tenant's wishes edited or watched on the platform (in the
//! background). Problems are shown next to the field concerned and nothing is stored then.

use std::collections::BTreeMap;

use eframe::egui;

use crate::customers::{self, Customer, CustomerChanges};
use crate::error::ClientError;
use crate::gui::criteria::{CriteriaForm, Criterion, WISHES, criteria_grid};
use crate::gui::jobs::JobKind;
use crate::gui::{App, Notice, plain_words};

/// Owner or tenant, for a new customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerKind {
    /// An owner of some of the agency's own listings.
    Owner,
    /// A tenant or buyer with wishes.
    Tenant,
}

/// The add/edit customer form's state.
#[derive(Debug, Clone)]
pub struct CustomerForm {
    /// The customer being changed, or `None` for a new one.
    pub editing: Option<i32>,
    /// Owner or tenant.
    pub kind: CustomerKind,
    /// Name.
    pub name: String,
    /// Phone, email, … as typed.
    pub contact: String,
    /// An owner's linked listing keys (own listings, chosen with check boxes).
    pub listing_keys: Vec<String>,
    /// A new tenant's wishes (an existing tenant's are changed with *Edit wishes*).
    pub wishes: CriteriaForm,
    /// Problems by field: `name`, `contact`, `listings`, a wishes label, or `form`.
    pub errors: BTreeMap<String, String>,
}

/// The wishes of a tenant opened with *Edit wishes*.
#[derive(Debug, Clone)]
pub struct WishesEdit {
    /// The tenant.
    pub customer_id: i32,
    /// Their wishes as text fields.
    pub criteria: CriteriaForm,
}

impl WishesEdit {
    /// The wishes of `c`, to be edited.
    pub fn of(c: &Customer) -> WishesEdit {
        WishesEdit {
            customer_id: c.id,
            criteria: CriteriaForm::from_criteria(c.wishes.clone().unwrap_or_default()),
        }
    }
}

impl CustomerForm {
    /// An empty form for a new customer of `kind`.
    pub fn new(kind: CustomerKind) -> CustomerForm {
        CustomerForm {
            editing: None,
            kind,
            name: String::new(),
            contact: String::new(),
            listing_keys: Vec::new(),
            wishes: CriteriaForm::default(),
            errors: BTreeMap::new(),
        }
    }

    /// A form filled from `c`, to change their name, contact and (owners) listings.
    pub fn edit(c: &Customer) -> CustomerForm {
        CustomerForm {
            editing: Some(c.id),
            kind: if c.kind == "owner" {
                CustomerKind::Owner
            } else {
                CustomerKind::Tenant
            },
            name: c.name.clone(),
            contact: c.contact.clone(),
            listing_keys: c.listing_keys.clone(),
            wishes: CriteriaForm::default(),
            errors: BTreeMap::new(),
        }
    }

    /// Stores the form: adds the customer or changes the one being edited. On failure the
    /// problem is recorded against its field and nothing is stored.
    pub fn save(&mut self, conn: &mut diesel::SqliteConnection) -> Result<Customer, ClientError> {
        self.errors.clear();
        // Every field's problem at once, so one look shows all there is to correct.
        let mut first = None;
        let wishes = (self.editing.is_none() && self.kind == CustomerKind::Tenant).then(|| {
            self.wishes
                .to_criteria()
                .and_then(|w| customers::check_wishes(&w))
        });
        for problem in [
            customers::check_name(&self.name).err(),
            customers::check_contact(&self.contact).err(),
            wishes.and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        {
            let (field, message) = field_error(&problem);
            self.errors.entry(field).or_insert(message);
            first.get_or_insert(problem);
        }
        if let Some(e) = first {
            return Err(e);
        }
        let result = match (self.editing, self.kind) {
            (None, CustomerKind::Owner) => {
                customers::add_owner(conn, &self.name, &self.contact, &self.listing_keys)
            }
            (None, CustomerKind::Tenant) => self
                .wishes
                .to_criteria()
                .and_then(|w| customers::add_tenant(conn, &self.name, &self.contact, &w)),
            (Some(id), kind) => customers::edit(
                conn,
                id,
                &CustomerChanges {
                    name: Some(self.name.clone()),
                    contact: Some(self.contact.clone()),
                    listing_keys: (kind == CustomerKind::Owner).then(|| self.listing_keys.clone()),
                    notes: None,
                },
            ),
        };
        if let Err(e) = &result {
            let (field, message) = field_error(e);
            self.errors.insert(field, message);
        }
        result
    }
}

/// The form field a core error concerns (`name`, `contact`, `listings`, a wishes label, or
/// `form`) and the message to show next to it, in words.
fn field_error(e: &ClientError) -> (String, String) {
    let message = match e {
        ClientError::InvalidInput { message, .. } | ClientError::InvalidListing { message, .. } => {
            message.clone()
        }
        other => return ("form".into(), plain_words(other)),
    };
    let (field, label) = match e.field().unwrap_or("") {
        "--name" => ("name", "Name"),
        "--contact" => ("contact", "Contact"),
        "--listing" | "--listings" => ("listings", "Listings:"),
        other => match wish_label(other) {
            Some(l) => (l, l),
            None => return ("form".into(), plain_words(e)),
        },
    };
    (field.into(), format!("{label} {message}"))
}

/// The wishes form's label for a field named by [`CriteriaForm::to_criteria`] or by the
/// criteria check.
fn wish_label(field: &str) -> Option<&'static str> {
    Criterion::named(field).and_then(|c| WISHES.label(c))
}

/// A short button in a table row whose accessible name says which row it acts on
/// ("Remove Tom Tenant" for a button showing "Remove"), as screen readers need.
fn row_button(
    ui: &mut egui::Ui,
    enabled: bool,
    text: &str,
    accessible: String,
    hover: &str,
) -> egui::Response {
    let r = ui
        .add_enabled(enabled, egui::Button::new(text))
        .on_hover_text(hover);
    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, enabled, &accessible));
    r
}

/// What a click in the customers table asks for.
enum RowAction {
    Wishes(WishesEdit),
    Edit(CustomerForm),
    Remove(i32),
    Watch(i32, String),
}

impl App {
    pub(in crate::gui) fn customers_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Owners and tenants");
        let busy = self.job.is_some();
        ui.horizontal(|ui| {
            if ui.button("New owner").clicked() {
                self.open_customer_form(CustomerForm::new(CustomerKind::Owner));
            }
            if ui.button("New tenant").clicked() {
                self.open_customer_form(CustomerForm::new(CustomerKind::Tenant));
            }
        });
        if self.customers.is_empty() {
            ui.label("No customers yet; add one with New owner or New tenant.");
        }
        let mut action = None;
        egui::Grid::new("customers")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                // The actions come before the wishes, whose text can be long.
                for h in ["#", "Kind", "Name", "Contact", "", "Wishes or listings"] {
                    ui.strong(h);
                }
                ui.end_row();
                for c in &self.customers {
                    ui.label(c.id.to_string());
                    ui.label(&c.kind);
                    ui.label(&c.name);
                    ui.label(&c.contact);
                    ui.horizontal(|ui| {
                        let edit = row_button(
                            ui,
                            true,
                            "Edit",
                            format!("Edit {}", c.name),
                            "Change the name, contact or (owners) linked listings.",
                        );
                        if edit.clicked() {
                            action = Some(RowAction::Edit(CustomerForm::edit(c)));
                        }
                        if c.wishes.is_some() {
                            let wishes = row_button(
                                ui,
                                true,
                                "Wishes",
                                format!("Edit wishes of {}", c.name),
                                "Change what this tenant is looking for; the hints follow.",
                            );
                            if wishes.clicked() {
                                action = Some(RowAction::Wishes(WishesEdit::of(c)));
                            }
                            let watch = row_button(
                                ui,
                                !busy,
                                if c.watch_id.is_some() { "Renew watch" } else { "Watch" },
                                format!("Watch {} on the platform", c.name),
                                "Keep these wishes on the platform for 30 days: listings from \
                                 every agency that fit are emailed to the agency while this desk \
                                 is off. Watching again renews.",
                            );
                            if watch.clicked() {
                                action = Some(RowAction::Watch(c.id, c.name.clone()));
                            }
                        }
                        let remove = row_button(
                            ui,
                            true,
                            "Remove",
                            format!("Remove {}", c.name),
                            "Delete this customer and everything kept about them here (asks first).",
                        );
                        if remove.clicked() {
                            action = Some(RowAction::Remove(c.id));
                        }
                    });
                    match &c.wishes {
                        Some(w) => {
                            // First, so a long summary cannot hide it.
                            let watched = if c.watch_id.is_some() {
                                "Watched on the platform · "
                            } else {
                                ""
                            };
                            ui.add(
                                egui::Label::new(format!(
                                    "{watched}{} ({} open hints)",
                                    w.summary(),
                                    c.open_hints
                                ))
                                .wrap(),
                            );
                        }
                        None => {
                            ui.add(egui::Label::new(c.listing_keys.join(", ")).wrap());
                        }
                    }
                    ui.end_row();
                }
            });
        match action {
            Some(RowAction::Wishes(w)) => {
                self.customer_form = None;
                self.confirm_remove = None;
                self.wishes_errors.clear();
                self.wishes = Some(w);
            }
            Some(RowAction::Edit(f)) => self.open_customer_form(f),
            Some(RowAction::Remove(id)) => self.confirm_remove = Some(id),
            Some(RowAction::Watch(id, name)) => self.start(JobKind::Watch { id, name }),
            None => {}
        }
        if let Some(job) = &self.job
            && matches!(job.kind, JobKind::Watch { .. } | JobKind::Remove { .. })
        {
            let phase = job
                .state
                .lock()
                .map(|s| s.phase.clone())
                .unwrap_or_default();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(job.kind.title());
                ui.label(phase);
            });
        }
        self.confirm_remove_ui(ui);
        self.customer_form_ui(ui);
        self.wishes_ui(ui);
    }

    /// Closes the forms open for customer `id` (just removed).
    pub(in crate::gui) fn close_forms_of(&mut self, id: i32) {
        if self.wishes.as_ref().is_some_and(|w| w.customer_id == id) {
            self.wishes = None;
        }
        if self
            .customer_form
            .as_ref()
            .is_some_and(|f| f.editing == Some(id))
        {
            self.customer_form = None;
        }
    }

    fn open_customer_form(&mut self, f: CustomerForm) {
        self.wishes = None;
        self.confirm_remove = None;
        self.customer_form = Some(f);
    }

    /// The confirmation step before a customer is removed.
    fn confirm_remove_ui(&mut self, ui: &mut egui::Ui) {
        let Some(id) = self.confirm_remove else {
            return;
        };
        let Some(c) = self.customers.iter().find(|c| c.id == id).cloned() else {
            self.confirm_remove = None;
            return;
        };
        ui.separator();
        ui.heading(format!("Remove {}?", c.name));
        let what = if c.kind == "owner" {
            "their contact and their links to your listings (the listings stay)".to_owned()
        } else {
            format!(
                "their contact, wishes, {} open hint(s) and any not-suitable marks",
                c.open_hints
            )
        };
        ui.label(format!(
            "{} and {what} are deleted from this desk. This cannot be undone.",
            c.name
        ));
        if let Some(w) = c.watch_id {
            ui.label(format!(
                "{} is watched on the platform (saved search {w}); that saved search is deleted \
                 there first, which needs the platform and the key passphrase.",
                c.name
            ));
        }
        let busy = self.job.is_some();
        let (mut yes, mut no) = (false, false);
        ui.horizontal(|ui| {
            yes = ui
                .add_enabled(!busy, egui::Button::new(format!("Yes, remove {}", c.name)))
                .clicked();
            no = ui.button(format!("Keep {}", c.name)).clicked();
        });
        if no {
            self.confirm_remove = None;
        } else if yes {
            self.confirm_remove = None;
            if c.watch_id.is_some() {
                self.start(JobKind::Remove { id, name: c.name });
                return;
            }
            match customers::remove(self.store.conn(), id, false) {
                Ok(r) => {
                    self.notice = Some(Notice::Info(format!(
                        "{} was removed from this desk with {} hint(s).",
                        r.customer.name, r.hints
                    )));
                    self.close_forms_of(id);
                }
                Err(e) => self.problem(&e),
            }
            self.reload();
        }
    }

    /// The new owner / new tenant / edit customer form.
    fn customer_form_ui(&mut self, ui: &mut egui::Ui) {
        let Some(form) = &mut self.customer_form else {
            return;
        };
        ui.separator();
        let title = match (form.editing, form.kind) {
            (Some(_), _) => format!(
                "Change {}",
                self.customers
                    .iter()
                    .find(|c| Some(c.id) == form.editing)
                    .map(|c| c.name.as_str())
                    .unwrap_or("customer")
            ),
            (None, CustomerKind::Owner) => "Add an owner".into(),
            (None, CustomerKind::Tenant) => "Add a tenant".into(),
        };
        ui.heading(title);
        let red = ui.visuals().error_fg_color;
        egui::Grid::new("customer_form")
            .num_columns(3)
            .show(ui, |ui| {
                for (field, label, value) in [
                    ("name", "Name", &mut form.name),
                    ("contact", "Contact (phone or email)", &mut form.contact),
                ] {
                    let l = ui.label(label);
                    ui.text_edit_singleline(value).labelled_by(l.id);
                    match form.errors.get(field) {
                        Some(e) => ui.colored_label(red, e),
                        None => ui.label(""),
                    };
                    ui.end_row();
                }
            });
        if form.kind == CustomerKind::Owner {
            ui.label("Owner of these listings of yours:");
            if self.listings.is_empty() {
                ui.label("(no listings of yours yet; add them in the Listings view)");
            }
            let mut shown: Vec<(String, String)> = self
                .listings
                .iter()
                .map(|l| {
                    let text = format!("{}: {}", l.listing_key, l.document.title);
                    (l.listing_key.clone(), text)
                })
                .collect();
            // A link stored before links were checked, to a listing that is not the agency's:
            // shown so it can be unticked rather than silently dropped.
            for k in &form.listing_keys {
                if !shown.iter().any(|(key, _)| key == k) {
                    shown.push((k.clone(), format!("{k} (not one of your listings)")));
                }
            }
            for (key, text) in shown {
                let mut on = form.listing_keys.contains(&key);
                if ui.checkbox(&mut on, text).changed() {
                    if on {
                        form.listing_keys.push(key);
                    } else {
                        form.listing_keys.retain(|k| *k != key);
                    }
                }
            }
            if let Some(e) = form.errors.get("listings") {
                ui.colored_label(red, e);
            }
        } else if form.editing.is_none() {
            ui.label("Wishes (leave a field empty for any):");
            criteria_grid(
                ui,
                "new_tenant_wishes",
                &WISHES,
                &mut form.wishes,
                Some(&form.errors),
            );
        } else {
            ui.label("Change the wishes with Edit wishes in the table.");
        }
        if let Some(e) = form.errors.get("form") {
            ui.colored_label(red, e);
        }
        let (mut save, mut cancel) = (false, false);
        ui.horizontal(|ui| {
            save = ui.button("Save customer").clicked();
            cancel = ui.button("Cancel").clicked();
        });
        if cancel {
            self.customer_form = None;
        } else if save {
            let new = form.editing.is_none();
            match form.save(self.store.conn()) {
                Ok(c) => {
                    self.notice = Some(Notice::Info(if new && c.kind == "tenant" {
                        format!("{} was added; {} open hint(s).", c.name, c.open_hints)
                    } else if new {
                        format!("{} was added.", c.name)
                    } else {
                        format!("{} was saved.", c.name)
                    }));
                    self.customer_form = None;
                    self.reload();
                }
                Err(_) => {
                    self.notice = Some(Notice::Problem(
                        "Nothing was saved; see the note next to the field.".into(),
                    ))
                }
            }
        }
    }

    /// The wishes of the tenant opened with *Edit wishes*.
    fn wishes_ui(&mut self, ui: &mut egui::Ui) {
        let Some(w) = &mut self.wishes else {
            return;
        };
        ui.separator();
        let name = self
            .customers
            .iter()
            .find(|c| c.id == w.customer_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        ui.heading(format!("Wishes of {name}"));
        criteria_grid(
            ui,
            "wishes",
            &WISHES,
            &mut w.criteria,
            Some(&self.wishes_errors),
        );
        let (mut save, mut close) = (false, false);
        ui.horizontal(|ui| {
            save = ui.button("Save wishes").clicked();
            close = ui.button("Close").clicked();
        });
        if close {
            self.wishes = None;
            return;
        }
        if !save {
            return;
        }
        let id = w.customer_id;
        let r = w
            .criteria
            .to_criteria()
            .and_then(|c| customers::set_wishes(self.store.conn(), id, &c));
        self.wishes_errors.clear();
        match r {
            Ok(c) => {
                let mut text =
                    format!("Wishes of {} saved; {} open hint(s).", c.name, c.open_hints);
                if c.watch_id.is_some() {
                    text += " Watch them on the platform again to send the new wishes there.";
                }
                self.notice = Some(Notice::Info(text));
                self.wishes = None;
                self.reload();
            }
            Err(e) => {
                let (field, message) = field_error(&e);
                if field == "form" {
                    self.problem(&e);
                } else {
                    self.wishes_errors.insert(field, message);
                    self.notice = Some(Notice::Problem(
                        "The wishes were not saved; see the note next to the field.".into(),
                    ));
                }
            }
        }
    }
}
