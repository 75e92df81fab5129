//! The page models (askama templates under `platform/templates/`, HTML auto-escaped), the
//! shared layout, and the embedded stylesheet and script.

use actix_web::{HttpResponse, http::StatusCode};
use askama::Template;

use super::session::Visitor;
use crate::listings::ListingRow;

/// The stylesheet, embedded in the binary.
pub const STYLESHEET: &str = include_str!("../../static/site.css");
/// The live-match script, embedded in the binary.
pub const SCRIPT: &str = include_str!("../../static/site.js");

/// The site's icon, embedded in the binary.
pub const FAVICON: &str = include_str!("../../static/favicon.svg");

/// `GET /favicon.svg` (and `/favicon.ico`, which browsers ask for on their own; SVG is served
/// there too, which every current browser reads).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(FAVICON)
}

/// `GET /static/site.css`.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// `GET /static/site.js`.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(SCRIPT)
}

/// Renders `page` with `status`, with headers that keep the page out of frames and caches.
pub fn html<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        // The security headers (frames, sniffing, referrer, CSP) are added to every answer by
        // `protocol::hygiene`.
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            HttpResponse::InternalServerError().body("Something went wrong on our side.")
        }
    }
}

/// Renders `page` with 200 and the visitor's cookie.
pub fn ok<T: Template>(visitor: &Visitor, page: &T) -> HttpResponse {
    visitor.finish(html(StatusCode::OK, page))
}

/// Renders `page` with 422 (a form with mistakes) and the visitor's cookie.
pub fn invalid<T: Template>(visitor: &Visitor, page: &T) -> HttpResponse {
    visitor.finish(html(StatusCode::UNPROCESSABLE_ENTITY, page))
}

/// What every page's frame shows: title, who is signed in, and the token for the sign-out form.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The page title.
    pub title: String,
    /// The signed-in user's email.
    pub user_email: Option<String>,
    /// CSRF token for forms on the page.
    pub csrf: String,
    /// A one-line notice shown at the top.
    pub notice: Option<String>,
}

impl Layout {
    /// The layout for `visitor`.
    pub fn new(title: impl Into<String>, visitor: &Visitor) -> Layout {
        Layout {
            title: title.into(),
            user_email: visitor.user.as_ref().map(|u| u.email.clone()),
            csrf: visitor.csrf().to_owned(),
            notice: None,
        }
    }

    /// A layout for nobody in particular (error pages).
    pub fn anonymous(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            ..Default::default()
        }
    }

    /// With a notice.
    pub fn with_notice(mut self, notice: Option<String>) -> Layout {
        self.notice = notice;
        self
    }
}

/// Mistakes in a form, by field name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// No mistakes.
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    /// One mistake.
    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        let mut e = FieldErrors::new();
        e.add(field, message);
        e
    }

    /// Records a mistake in `field` (the first one per field is kept).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field.to_owned(), message.into()));
        }
    }

    /// The mistake in `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every mistake, for the summary at the top of a form.
    pub fn all(&self) -> &[(String, String)] {
        &self.0
    }
}

/// One `<option>` of a `<select>`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectOption {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Selected.
    pub selected: bool,
}

impl SelectOption {
    /// Options from `(value, label)` pairs with `current` selected.
    pub fn list(pairs: &[(&str, &str)], current: &str) -> Vec<SelectOption> {
        pairs
            .iter()
            .map(|(v, l)| SelectOption {
                value: (*v).to_owned(),
                label: (*l).to_owned(),
                selected: *v == current,
            })
            .collect()
    }
}

/// A generic page with a heading, a message and a link.
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Frame.
    pub layout: Layout,
    /// Heading.
    pub heading: String,
    /// Text.
    pub message: String,
    /// `(href, text)` of a link to go on.
    pub link: Option<(String, String)>,
}

/// A listing as a result card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// Listing id.
    pub id: i64,
    /// Headline.
    pub title: String,
    /// "Alfama, Lisbon".
    pub place: String,
    /// "350,000 EUR" or "1,200 EUR / month".
    pub price: String,
    /// "Apartment · 84.5 m² · 2 bedrooms".
    pub facts: String,
    /// First photo, if any (http or https only).
    pub photo: Option<String>,
    /// "For sale" or "To rent".
    pub transaction: String,
}

/// Thousands separated by commas, as in the emails: `350000` → `350,000`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A property-type code as a capitalised label.
pub fn type_label(code: &str) -> String {
    let mut chars = code.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Only http(s) URLs are shown as images or links.
pub fn safe_url(url: &str) -> Option<String> {
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_owned())
}

impl Card {
    /// The card for a listing row.
    pub fn of(row: &ListingRow) -> Card {
        let rent = row.transaction_type == "rent";
        let mut facts = vec![type_label(&row.property_type)];
        if let Some(a) = row.living_area {
            facts.push(format!("{a} m²"));
        }
        if let Some(b) = row.bedrooms {
            facts.push(format!("{b} bedroom{}", if b == 1 { "" } else { "s" }));
        }
        Card {
            id: row.id,
            title: row.title.clone(),
            place: match &row.district {
                Some(d) => format!("{d}, {}", row.city),
                None => row.city.clone(),
            },
            price: format!(
                "{} {}{}",
                group_digits(row.price),
                row.currency,
                if rent { " / month" } else { "" }
            ),
            facts: facts.join(" · "),
            photo: row.media_urls().first().and_then(|u| safe_url(u)),
            transaction: if rent { "To rent" } else { "For sale" }.to_owned(),
        }
    }
}

/// A date (UTC) from milliseconds, like `2026-12-23`.
pub fn date(ms: i64) -> String {
    let t = crate::listings::ms_to_time(ms);
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A date and time (UTC) from milliseconds, like `2026-12-23 14:05 UTC`.
pub fn date_time(ms: i64) -> String {
    let t = crate::listings::ms_to_time(ms);
    format!("{} {:02}:{:02} UTC", date(ms), t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels_read_well() {
        assert_eq!(group_digits(350_000), "350,000");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(type_label("apartment"), "Apartment");
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(date(0), "1970-01-01");
    }

    #[test]
    fn field_errors_keep_the_first_per_field() {
        let mut e = FieldErrors::new();
        e.add("city", "one");
        e.add("city", "two");
        assert_eq!(e.get("city"), Some("one"));
        assert_eq!(e.get("district"), None);
        assert!(!e.is_empty());
    }

    #[test]
    fn pages_escape_what_users_typed() {
        let page = MessagePage {
            layout: Layout::anonymous("<b>t</b>"),
            heading: "<script>alert(1)</script>".into(),
            message: "a & b".into(),
            link: None,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&#60;script&#62;"), "{html}");
    }
}
