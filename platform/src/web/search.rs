//! Search: the home page with the search box, result pages, listing pages (with the agency's
//! signature checked), and signed-in users' search history.

use actix_web::{HttpRequest, HttpResponse, web};
use api_types::{PropertyType, SearchCriteria, TransactionType};
use askama::Template;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::WebError;
use super::pages::{self, Card, FieldErrors, Layout, SelectOption};
use super::session::Visitor;
use crate::accounts::dismissals::Dismissals;
use crate::accounts::history::SearchHistory;
use crate::agencies::AgencyStore;
use crate::listings::{ListingQuery, ListingRow, ListingSort, ListingStore, PriceHistory};
use crate::notify::store::MatchHistory;
use crate::pki::CertificateStore;
use crate::state::AppState;

/// Results per page.
pub const PAGE_SIZE: i64 = 20;
pub use crate::accounts::history::{HISTORY_KEPT, HISTORY_SHOWN};

/// Registers the search routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/search", web::get().to(results))
        .route("/listings/{id}", web::get().to(listing_page));
}

/// The search form as submitted: every field a string, so that a mistake is shown next to its
/// field instead of failing the whole request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchForm {
    /// `sale`, `rent` or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transaction: String,
    /// City.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub city: String,
    /// District.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub district: String,
    /// A property type code or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub property_type: String,
    /// Lowest price.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_price: String,
    /// Highest price.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_price: String,
    /// Smallest living area (m²).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_area: String,
    /// Largest living area (m²).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_area: String,
    /// Fewest bedrooms.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_bedrooms: String,
    /// Words, separated by spaces.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub keywords: String,
    /// `newest`, `price_asc` or `price_desc`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sort: String,
    /// 1-based page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub page: String,
}

fn number<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    text: &str,
    what: &str,
) -> Option<T> {
    let t = text.trim().replace([' ', '\u{202f}', ','], "");
    if t.is_empty() {
        return None;
    }
    match t.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.add(field, format!("enter {what}, or leave it empty"));
            None
        }
    }
}

/// Maps the wire field names of [`SearchCriteria::validate`] to the form's.
fn form_field(criteria_field: &str) -> &str {
    match criteria_field {
        "min_living_area" => "min_area",
        "max_living_area" => "max_area",
        "transaction_type" => "transaction",
        "property_types" => "property_type",
        other => other,
    }
}

impl SearchForm {
    /// The criteria and order this form asks for, or its mistakes by field.
    pub fn parse(&self) -> Result<(SearchCriteria, ListingSort), FieldErrors> {
        let mut errors = FieldErrors::new();
        let transaction_type = match self.transaction.as_str() {
            "" => None,
            code => match TransactionType::from_code(code) {
                Some(t) => Some(t),
                None => {
                    errors.add("transaction", "choose sale, rent or either");
                    None
                }
            },
        };
        let property_types = match self.property_type.as_str() {
            "" => vec![],
            code => match PropertyType::from_code(code) {
                Some(t) => vec![t],
                None => {
                    errors.add("property_type", "choose a property type from the list");
                    vec![]
                }
            },
        };
        let criteria = SearchCriteria {
            transaction_type,
            city: Some(self.city.trim().to_owned()).filter(|c| !c.is_empty()),
            district: Some(self.district.trim().to_owned()).filter(|c| !c.is_empty()),
            property_types,
            min_price: number(&mut errors, "min_price", &self.min_price, "a whole amount"),
            max_price: number(&mut errors, "max_price", &self.max_price, "a whole amount"),
            min_living_area: number(&mut errors, "min_area", &self.min_area, "square metres"),
            max_living_area: number(&mut errors, "max_area", &self.max_area, "square metres"),
            min_bedrooms: number(&mut errors, "min_bedrooms", &self.min_bedrooms, "a number"),
            keywords: self
                .keywords
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        let sort = match self.sort.as_str() {
            "" | "newest" => ListingSort::Newest,
            "price_asc" => ListingSort::PriceAsc,
            "price_desc" => ListingSort::PriceDesc,
            _ => {
                errors.add("sort", "choose an order from the list");
                ListingSort::Newest
            }
        };
        if errors.is_empty()
            && let Err(e) = criteria.validate()
        {
            errors.add(form_field(&e.field), e.message);
        }
        if errors.is_empty() {
            Ok((criteria, sort))
        } else {
            Err(errors)
        }
    }

    /// The form that asks for `criteria` (to edit a saved search or rerun one).
    pub fn from_criteria(criteria: &SearchCriteria) -> SearchForm {
        let opt = |v: Option<String>| v.unwrap_or_default();
        SearchForm {
            transaction: opt(criteria.transaction_type.map(|t| t.code().to_owned())),
            city: opt(criteria.city.clone()),
            district: opt(criteria.district.clone()),
            property_type: criteria
                .property_types
                .first()
                .map(|t| t.code().to_owned())
                .unwrap_or_default(),
            min_price: opt(criteria.min_price.map(|v| v.to_string())),
            max_price: opt(criteria.max_price.map(|v| v.to_string())),
            min_area: opt(criteria.min_living_area.map(|v| v.to_string())),
            max_area: opt(criteria.max_living_area.map(|v| v.to_string())),
            min_bedrooms: opt(criteria.min_bedrooms.map(|v| v.to_string())),
            keywords: criteria.keywords.join(" "),
            sort: String::new(),
            page: String::new(),
        }
    }

    /// The query string of this search without the page number.
    pub fn query_without_page(&self) -> String {
        let mut f = self.clone();
        f.page.clear();
        serde_urlencoded::to_string(&f).unwrap_or_default()
    }

    /// The 1-based page asked for.
    pub fn page_number(&self) -> i64 {
        self.page
            .trim()
            .parse::<i64>()
            .unwrap_or(1)
            .clamp(1, 10_000)
    }
}

/// The search form with its options and mistakes, as the templates show it.
#[derive(Debug, Clone, Default)]
pub struct FormView {
    /// What was typed.
    pub form: SearchForm,
    /// Mistakes.
    pub errors: FieldErrors,
    /// Sale / rent options.
    pub transactions: Vec<SelectOption>,
    /// Property type options.
    pub types: Vec<SelectOption>,
    /// Order options.
    pub sorts: Vec<SelectOption>,
}

impl FormView {
    /// The form view for `form` with `errors`.
    pub fn new(form: SearchForm, errors: FieldErrors) -> FormView {
        let types: Vec<(String, String)> = PropertyType::ALL
            .iter()
            .map(|t| (t.code().to_owned(), pages::type_label(t.code())))
            .collect();
        let mut type_pairs: Vec<(&str, &str)> = vec![("", "Any type")];
        type_pairs.extend(types.iter().map(|(c, l)| (c.as_str(), l.as_str())));
        FormView {
            transactions: SelectOption::list(
                &[("", "Buy or rent"), ("sale", "Buy"), ("rent", "Rent")],
                &form.transaction,
            ),
            types: SelectOption::list(&type_pairs, &form.property_type),
            sorts: SelectOption::list(
                &[
                    ("newest", "Newest first"),
                    ("price_asc", "Price: low to high"),
                    ("price_desc", "Price: high to low"),
                ],
                &form.sort,
            ),
            form,
            errors,
        }
    }
}

/// One entry of a user's search history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Link to rerun it.
    pub href: String,
    /// What it searched for.
    pub summary: String,
    /// When.
    pub when: String,
}

/// The home page.
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Frame.
    pub layout: Layout,
    /// The search box, prefilled with the user's last search.
    pub search: FormView,
    /// The user's last searches.
    pub history: Vec<HistoryEntry>,
    /// Matches since the user last looked.
    pub new_matches: i64,
}

/// A page of results.
#[derive(Debug, Template)]
#[template(path = "results.html")]
pub struct ResultsPage {
    /// Frame.
    pub layout: Layout,
    /// The search box.
    pub search: FormView,
    /// Summary of the search.
    pub summary: String,
    /// This page's listings.
    pub cards: Vec<Card>,
    /// Matches in all.
    pub total: i64,
    /// Whether the visitor gave any criterion (an empty result then means "try fewer").
    pub any_criteria: bool,
    /// This page.
    pub page: i64,
    /// Pages in all.
    pub pages: i64,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
    /// The search's query string, for "save this search".
    pub query: String,
    /// Whether the visitor may save it (signed in).
    pub can_save: bool,
    /// Listings hidden because the user is not interested in them.
    pub hidden: usize,
}

/// `GET /`.
async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let (history, last, new_matches) = match &visitor.user {
        Some(u) => {
            let (user_id, since) = (u.id, u.last_seen_at.unwrap_or(0));
            state
                .db
                .run(move |conn| -> Result<_, WebError> {
                    crate::with_conn!(conn, |c| {
                        let rows = c.recent_searches(user_id, HISTORY_SHOWN)?;
                        let new_matches = c.matches_since(user_id, since)?;
                        Ok((rows, new_matches))
                    })
                })
                .await
                .map(|(rows, n)| {
                    let last = rows.first().map(|(q, _, _)| q.clone());
                    let history = rows
                        .into_iter()
                        .map(|(q, summary, at)| HistoryEntry {
                            href: format!("/search?{q}"),
                            summary,
                            when: pages::date_time(at),
                        })
                        .collect();
                    (history, last, n)
                })?
        }
        None => (vec![], None, 0),
    };
    let form = last
        .and_then(|q| serde_urlencoded::from_str::<SearchForm>(&q).ok())
        .unwrap_or_default();
    let page = HomePage {
        layout: Layout::new("Find a home", &visitor),
        search: FormView::new(form, FieldErrors::new()),
        history,
        new_matches,
    };
    Ok(pages::ok(&visitor, &page))
}

pub use crate::accounts::dismissals::MAX_EXCLUDED;

/// Listing ids the user marked "not interested", newest first, at most [`MAX_EXCLUDED`].
pub fn dismissed_ids(conn: &mut crate::db::DbConn, user_id: i64) -> Result<Vec<i64>, WebError> {
    Ok(crate::with_conn!(conn, |c| c.dismissed_ids(user_id))?)
}

/// Runs a search for the website: the page asked for, without listings the user dismissed (left
/// out by the query itself, so every page is full), and how many matching listings that hides.
pub fn run_search(
    conn: &mut crate::db::DbConn,
    criteria: &SearchCriteria,
    sort: ListingSort,
    page: i64,
    user_id: Option<i64>,
) -> Result<(Vec<ListingRow>, i64, usize), WebError> {
    let dismissed = match user_id {
        Some(u) => dismissed_ids(conn, u)?,
        None => vec![],
    };
    let query = ListingQuery {
        criteria: criteria.clone(),
        sort,
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
        exclude_ids: dismissed,
    };
    let (rows, total) = crate::with_conn!(conn, |c| c.search_listings(&query))?;
    // How many of the matches the user hid: the count with them less the count without (both
    // exact below COUNT_CAP; beyond it the number is not known and not shown).
    let hidden = if query.exclude_ids.is_empty() {
        0
    } else {
        let all = ListingQuery {
            exclude_ids: Vec::new(),
            offset: 0,
            limit: 1,
            ..query
        };
        let (_, with_hidden) = crate::with_conn!(conn, |c| c.search_listings(&all))?;
        if with_hidden > crate::listings::COUNT_CAP {
            0
        } else {
            usize::try_from(with_hidden - total).unwrap_or(0)
        }
    };
    Ok((rows, total, hidden))
}

/// `GET /search`.
async fn results(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Query<SearchForm>,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    let form = form.into_inner();
    let (criteria, sort) = match form.parse() {
        Ok(v) => v,
        Err(errors) => {
            let page = HomePage {
                layout: Layout::new("Check your search", &visitor),
                search: FormView::new(form, errors),
                history: vec![],
                new_matches: 0,
            };
            return Ok(pages::invalid(&visitor, &page));
        }
    };
    if visitor.user.is_some() {
        visitor.ensure_session(&state).await?;
    }
    let page_no = form.page_number();
    let user_id = visitor.user.as_ref().map(|u| u.id);
    let query = form.query_without_page();
    // The summary shows the criteria as typed ("Lisbon", not the matching key "lisbon").
    let summary = criteria.summary();
    let any_criteria = criteria.normalized() != SearchCriteria::default();
    let (rows, total, hidden) = {
        let (criteria, query, summary) = (criteria.clone(), query.clone(), summary.clone());
        state
            .db
            .run(move |conn| -> Result<_, WebError> {
                if let Some(u) = user_id
                    && page_no == 1
                {
                    record_history(conn, u, &query, &summary)?;
                }
                run_search(conn, &criteria, sort, page_no, user_id)
            })
            .await?
    };
    let pages_total = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let link = |p: i64| {
        if query.is_empty() {
            format!("/search?page={p}")
        } else {
            format!("/search?{query}&page={p}")
        }
    };
    if page_no > pages_total {
        // `?page=999` of 2 pages: the last page, not "Page 999 of 2" with nothing on it.
        return Ok(visitor.finish(super::see_other(&link(pages_total))));
    }
    let page = ResultsPage {
        layout: Layout::new(format!("{summary} – search"), &visitor),
        any_criteria,
        search: FormView::new(form.clone(), FieldErrors::new()),
        summary,
        cards: rows.iter().map(Card::of).collect(),
        total,
        page: page_no,
        pages: pages_total,
        prev: (page_no > 1).then(|| link(page_no - 1)),
        next: (page_no < pages_total).then(|| link(page_no + 1)),
        query,
        can_save: visitor.user.is_some(),
        hidden,
    };
    Ok(pages::ok(&visitor, &page))
}

/// Appends a search to the user's history (not when it repeats the last one) and keeps the last
/// [`HISTORY_KEPT`].
fn record_history(
    conn: &mut crate::db::DbConn,
    user_id: i64,
    query: &str,
    summary: &str,
) -> Result<(), WebError> {
    let now = crate::db::now_ms();
    Ok(crate::with_conn!(conn, |c| c.record_search(user_id, query, summary, now))?)
}

/// Whether a listing's stored signature verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature over the stored document verifies with the certificate's key.
    Verified {
        /// The certificate's serial.
        serial: String,
        /// Its subject.
        subject: String,
    },
    /// It does not, or cannot be checked; why.
    Failed(String),
}

/// Verifies `row.signature` over `row.document` with the certificate `cert_pem`. The stored
/// document is exactly the bytes the agency signed: the RFC 8785 form of the listing object as
/// it sent it, or, for a row stored before RFC 8785, the older canonical form it was signed in;
/// so the one check covers both.
pub fn check_signature(row: &ListingRow, cert_pem: Option<(&str, &str)>) -> SignatureCheck {
    let Some((pem, subject)) = cert_pem else {
        return SignatureCheck::Failed("the signing certificate is not on record".into());
    };
    let Some(envelope) = row.signature_envelope() else {
        return SignatureCheck::Failed(format!(
            "unknown signature algorithm {}",
            row.signature_alg
        ));
    };
    let algorithm = envelope.algorithm;
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&envelope.value) else {
        return SignatureCheck::Failed("the signature is not valid base64".into());
    };
    let der = match ca::inspect::parse_chain_pem(pem) {
        Ok(mut ders) if !ders.is_empty() => ders.remove(0),
        _ => return SignatureCheck::Failed("the signing certificate cannot be read".into()),
    };
    match ca::sign::verify_with_certificate(&der, algorithm, row.document.as_bytes(), &signature) {
        Ok(()) => SignatureCheck::Verified {
            serial: row.cert_serial.clone(),
            subject: subject.to_owned(),
        },
        Err(e) => SignatureCheck::Failed(format!("the signature does not verify: {e}")),
    }
}

/// A listing page.
#[derive(Debug, Template)]
#[template(path = "listing.html")]
pub struct ListingPage {
    /// Frame.
    pub layout: Layout,
    /// The card facts.
    pub card: Card,
    /// Full description.
    pub description: String,
    /// `(label, value)` rows.
    pub facts: Vec<(String, String)>,
    /// Photo URLs.
    pub photos: Vec<String>,
    /// The publishing agency.
    pub agency: String,
    /// The signature check.
    pub signature: SignatureCheck,
    /// When the listing is held because its agency's signing key was reported compromised: the
    /// date of that report; the page says so instead of the signature check.
    pub held_since: Option<String>,
    /// Not active: sold, rented, withdrawn.
    pub status_note: Option<String>,
    /// Signed in (may dismiss).
    pub signed_in: bool,
    /// Already dismissed.
    pub dismissed: bool,
    /// The price at each version where it changed, newest first.
    pub price_history: Vec<PriceRow>,
    /// The listing is on the market: the enquiry form is shown.
    pub enquiry_open: bool,
    /// Where the enquiry form posts.
    pub enquiry_action: String,
    /// The enquiry form (email prefilled for a signed-in buyer).
    pub enquiry: super::enquiry::EnquiryForm,
    /// No mistakes yet.
    pub enquiry_errors: FieldErrors,
}

/// One line of a listing's price history.
#[derive(Debug)]
pub struct PriceRow {
    /// `2026-12-23`.
    pub date: String,
    /// `350,000 EUR`.
    pub price: String,
    /// `−20,000 EUR (−5.4%)`, `+5,000 EUR (+1.4%)`, or `First listed`.
    pub change: String,
    /// `down`, `up` or `first`, for styling (the text says it too).
    pub direction: &'static str,
}

/// The listing page's price history from the recorded prices (oldest first), newest first.
pub fn price_rows(points: &[crate::listings::PricePoint], rent: bool) -> Vec<PriceRow> {
    let per = if rent { " / month" } else { "" };
    let mut rows = Vec::with_capacity(points.len());
    let mut before: Option<&crate::listings::PricePoint> = None;
    for p in points {
        let (change, direction) = match before {
            Some(b) if b.currency == p.currency && b.price != 0 => {
                let diff = p.price - b.price;
                let pct = diff as f64 * 100.0 / b.price as f64;
                let sign = if diff < 0 { "−" } else { "+" };
                (
                    format!(
                        "{sign}{} {} ({sign}{:.1}%)",
                        pages::group_digits(diff.abs()),
                        p.currency,
                        pct.abs()
                    ),
                    if diff < 0 { "down" } else { "up" },
                )
            }
            Some(_) => ("Price changed".to_owned(), "up"),
            None => ("First listed".to_owned(), "first"),
        };
        rows.push(PriceRow {
            date: pages::date(p.at),
            price: format!("{} {}{per}", pages::group_digits(p.price), p.currency),
            change,
            direction,
        });
        before = Some(p);
    }
    rows.reverse();
    rows
}

/// `GET /listings/{id}`.
async fn listing_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let mut visitor = Visitor::load(&state, &req).await?;
    let user_id = visitor.user.as_ref().map(|u| u.id);
    type Loaded = (
        ListingRow,
        String,
        Option<(String, String)>,
        bool,
        Vec<crate::listings::PricePoint>,
    );
    let loaded: Option<Loaded> = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            crate::with_conn!(conn, |c| {
                let Some(row) = c.find_listing_by_id(id)? else {
                    return Ok(None);
                };
                let agency = c
                    .find_agency(row.agency_id)?
                    .ok_or(diesel::result::Error::NotFound)?
                    .name;
                let cert = c
                    .find_certificate(&row.cert_serial)?
                    .map(|cert| (cert.pem, cert.subject));
                let dismissed = match user_id {
                    Some(u) => c.is_dismissed(u, id)?,
                    None => false,
                };
                let prices = c.price_history(id)?;
                Ok(Some((row, agency, cert, dismissed, prices)))
            })
        })
        .await?;
    let Some((row, agency, cert, dismissed, prices)) = loaded else {
        return Err(WebError::NotFound);
    };
    if row.status == "taken_down" {
        return Err(WebError::NotFound);
    }
    let enquiry_open = row.status == "active" && row.held_at.is_none();
    if visitor.user.is_some() || enquiry_open {
        // The enquiry form needs a CSRF token (a signed cookie for a visitor; nothing stored).
        visitor.ensure_session(&state).await?;
    }
    let signature = check_signature(&row, cert.as_ref().map(|(p, s)| (p.as_str(), s.as_str())));
    let mut facts = vec![
        ("Price".to_owned(), Card::of(&row).price),
        ("Type".to_owned(), pages::type_label(&row.property_type)),
    ];
    let opt = |label: &str, v: Option<String>, facts: &mut Vec<(String, String)>| {
        if let Some(v) = v {
            facts.push((label.to_owned(), v));
        }
    };
    opt(
        "Living area",
        row.living_area.map(|a| format!("{a} m²")),
        &mut facts,
    );
    opt("Rooms", row.rooms.map(|v| v.to_string()), &mut facts);
    opt("Bedrooms", row.bedrooms.map(|v| v.to_string()), &mut facts);
    opt(
        "Bathrooms",
        row.bathrooms.map(|v| v.to_string()),
        &mut facts,
    );
    opt("Address", row.address.clone(), &mut facts);
    opt("Postal code", row.postal_code.clone(), &mut facts);
    facts.push(("Published".to_owned(), pages::date(row.created_at)));
    facts.push(("Agency reference".to_owned(), row.listing_key.clone()));
    let status_note = (row.status != "active").then(|| {
        format!(
            "This listing is no longer available ({}).",
            row.status.replace('_', " ")
        )
    });
    let page = ListingPage {
        layout: Layout::new(row.title.clone(), &visitor),
        card: Card::of(&row),
        description: row.description.clone(),
        facts,
        photos: row
            .media_urls()
            .iter()
            .filter_map(|u| pages::safe_url(u))
            .collect(),
        agency,
        signature,
        held_since: row.held_at.map(pages::date),
        status_note,
        signed_in: visitor.user.is_some(),
        dismissed,
        price_history: price_rows(&prices, row.transaction_type == "rent"),
        enquiry_open,
        enquiry_action: format!("/listings/{id}/enquiry"),
        enquiry: super::enquiry::EnquiryForm::for_visitor(&visitor),
        enquiry_errors: FieldErrors::new(),
    };
    Ok(pages::ok(&visitor, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_parses_into_criteria_or_names_the_field() {
        let form: SearchForm = serde_urlencoded::from_str(
            "transaction=rent&city=Lisbon&property_type=apartment&min_price=500&max_price=1%20500&min_bedrooms=2&keywords=river+view&sort=price_asc",
        )
        .unwrap();
        let (c, sort) = form.parse().unwrap();
        assert_eq!(c.transaction_type, Some(TransactionType::Rent));
        assert_eq!(c.max_price, Some(1500));
        assert_eq!(c.keywords, vec!["river", "view"]);
        assert_eq!(sort, ListingSort::PriceAsc);
        let back = SearchForm::from_criteria(&c);
        assert_eq!(back.city, "Lisbon");

        let bad: SearchForm = serde_urlencoded::from_str("min_price=cheap&min_area=-3").unwrap();
        let e = bad.parse().unwrap_err();
        assert!(e.get("min_price").is_some());
        let bad: SearchForm = serde_urlencoded::from_str("min_price=9&max_price=1").unwrap();
        assert!(bad.parse().unwrap_err().get("max_price").is_some());
        let bad: SearchForm = serde_urlencoded::from_str("min_area=-3").unwrap();
        assert!(bad.parse().unwrap_err().get("min_area").is_some());
        let bad: SearchForm = serde_urlencoded::from_str("property_type=castle").unwrap();
        assert!(bad.parse().unwrap_err().get("property_type").is_some());
    }

    #[test]
    fn price_history_reads_newest_first_with_each_change() {
        let point = |version, price, at| crate::listings::PricePoint {
            version,
            price,
            currency: "EUR".into(),
            at,
        };
        let day = 86_400_000;
        let rows = price_rows(
            &[
                point(1, 1_800, 0),
                point(3, 1_700, day),
                point(4, 1_750, 2 * day),
            ],
            true,
        );
        let read: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.date.as_str(), r.price.as_str(), r.change.as_str()))
            .collect();
        assert_eq!(
            read,
            [
                ("1970-01-03", "1,750 EUR / month", "+50 EUR (+2.9%)"),
                ("1970-01-02", "1,700 EUR / month", "−100 EUR (−5.6%)"),
                ("1970-01-01", "1,800 EUR / month", "First listed"),
            ]
        );
        assert_eq!(rows[1].direction, "down");
        assert!(price_rows(&[], false).is_empty());
    }

    #[test]
    fn query_strings_leave_out_empty_fields_and_the_page() {
        let form = SearchForm {
            city: "Lisbon".into(),
            page: "3".into(),
            ..Default::default()
        };
        assert_eq!(form.query_without_page(), "city=Lisbon");
        assert_eq!(form.page_number(), 3);
    }
}
