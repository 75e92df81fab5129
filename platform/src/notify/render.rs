//! Mail templates, compiled into the binary: a subject, a plain-text body and an HTML body for
//! every [`MailKind`]. Every value that comes from a user, an agency or a listing is escaped in
//! the HTML body ([`escape_html`]); plain text is left as written.

use std::fmt::Write as _;

use serde_json::Value;

use super::outbox::{MailKind, MatchReason};

/// A rendered email, ready to be put into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The text/plain alternative.
    pub text: String,
    /// The text/html alternative.
    pub html: String,
}

/// A payload that lacks a field its template needs (the mail cannot ever be sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {kind} payload has no usable {field:?}")]
pub struct RenderError {
    /// The kind's code.
    pub kind: &'static str,
    /// The missing or mistyped field.
    pub field: &'static str,
}

/// Links every mail may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The website's public address without a trailing slash (`web.public_url`).
    pub public_url: String,
    /// The recipient's one-click unsubscribe address, when the recipient is a website user.
    pub unsubscribe: Option<String>,
}

impl Links {
    /// Where the recipient manages their notifications and sees every match.
    pub fn manage(&self) -> String {
        format!("{}/account/notifications", self.public_url)
    }

    /// The public page of a listing.
    pub fn listing(&self, id: i64) -> String {
        format!("{}/listings/{id}", self.public_url)
    }
}

/// The key facts of a listing shown in a match email, read from the `listings` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingSummary {
    /// Listing id (for its link).
    pub id: i64,
    /// Title given by the agency.
    pub title: String,
    /// City.
    pub city: String,
    /// District, if given.
    pub district: Option<String>,
    /// Current asking price, in whole units of `currency`.
    pub price: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Bedrooms, if given.
    pub bedrooms: Option<i32>,
    /// Living area in square metres, if given.
    pub living_area: Option<f64>,
}

/// One listing in a match email and why it is there.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchItem {
    /// The listing.
    pub listing: ListingSummary,
    /// Names of the saved searches it matched.
    pub searches: Vec<String>,
    /// Why it is due.
    pub reason: MatchReason,
    /// The price at the time of the match.
    pub price: i64,
    /// The price before, for a price drop.
    pub previous_price: Option<i64>,
}

/// Escapes text for use in HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` and `EUR` as `1,234,567 EUR`.
pub fn format_price(amount: i64, currency: &str) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(d);
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}{grouped} {currency}")
}

/// A mail of any kind but `listing_match` from its payload.
pub fn render_single(
    kind: MailKind,
    payload: &Value,
    links: &Links,
) -> Result<Rendered, RenderError> {
    let field = |name: &'static str| -> Result<String, RenderError> {
        match payload.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(RenderError {
                kind: kind.code(),
                field: name,
            }),
        }
    };
    let (subject, paragraphs, action): (String, Vec<String>, Option<(String, String)>) = match kind
    {
        MailKind::ListingMatch => {
            return Err(RenderError {
                kind: kind.code(),
                field: "listings",
            });
        }
        MailKind::VerifyEmail => (
            "Confirm your email address".to_owned(),
            vec![
                "Welcome to Listing Exchange. Please confirm that this address is yours."
                    .to_owned(),
                "If you did not create an account, ignore this email.".to_owned(),
            ],
            Some(("Confirm my address".to_owned(), field("link")?)),
        ),
        MailKind::PasswordReset => (
            "Reset your password".to_owned(),
            vec![
                "Someone asked to reset the password of your Listing Exchange account.".to_owned(),
                "If it was not you, ignore this email: your password stays as it is.".to_owned(),
            ],
            Some(("Choose a new password".to_owned(), field("link")?)),
        ),
        MailKind::SavedSearchExpiring => {
            let name = field("name")?;
            (
                format!("Your saved search \"{name}\" expires soon"),
                vec![format!(
                    "Your saved search \"{name}\" expires on {}. Renew it to keep getting matches.",
                    field("expires_at")?
                )],
                Some(("Renew this search".to_owned(), field("renew_link")?)),
            )
        }
        MailKind::AgencyApproved => {
            let name = field("agency_name")?;
            (
                format!("{name} is approved on Listing Exchange"),
                vec![
                    format!("{name} is approved. Enrol your agency client with these details:"),
                    format!("Enrolment token (use once): {}", field("token")?),
                    format!("Token valid until: {}", field("token_expires_at")?),
                    format!("CA fingerprint (check it): {}", field("ca_fingerprint")?),
                    format!("Agency API: {}", field("agency_api")?),
                ],
                None,
            )
        }
        MailKind::AgencyRejected => {
            let name = field("agency_name")?;
            (
                format!("Your application for {name} was not approved"),
                vec![format!(
                    "We could not approve the application of {name}. Reply to this email if you \
                     think this is a mistake."
                )],
                None,
            )
        }
        MailKind::CertificateExpiring => {
            let name = field("agency_name")?;
            (
                format!("The certificate of {name} expires soon"),
                vec![
                    format!(
                        "The client certificate {} of {name} expires on {}.",
                        field("serial")?,
                        field("not_after")?
                    ),
                    "Start the agency client so it renews the certificate on its own.".to_owned(),
                ],
                None,
            )
        }
    };
    let mut text = String::new();
    let mut html = String::from(HTML_HEAD);
    for p in &paragraphs {
        let _ = writeln!(text, "{p}\n");
        let _ = writeln!(html, "<p>{}</p>", escape_html(p));
    }
    if let Some((label, url)) = &action {
        let _ = writeln!(text, "{label}: {url}\n");
        let _ = writeln!(
            html,
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(url),
            escape_html(label)
        );
    }
    footer(
        &mut text,
        &mut html,
        links,
        kind == MailKind::SavedSearchExpiring,
    );
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

/// One email for several listing matches of one recipient. `items` holds at most the listings to
/// show; `total` counts every match the email stands for (a "see all" link covers the rest).
pub fn render_matches(items: &[MatchItem], total: usize, digest: bool, links: &Links) -> Rendered {
    let subject = match (digest, total) {
        (true, 1) => "Your daily digest: 1 new match".to_owned(),
        (true, n) => format!("Your daily digest: {n} new matches"),
        (false, 1) => match items.first() {
            Some(item) => format!("New match: {}", item.listing.title),
            None => "1 new match".to_owned(),
        },
        (false, n) => format!("{n} new listings match your searches"),
    };
    let mut text = String::new();
    let mut html = String::from(HTML_HEAD);
    let intro = if total == 1 {
        "A listing matches your saved search.".to_owned()
    } else {
        format!("{total} listings match your saved searches.")
    };
    let _ = writeln!(text, "{intro}\n");
    let _ = writeln!(html, "<p>{}</p>\n<ul>", escape_html(&intro));
    for item in items {
        let l = &item.listing;
        let place = match &l.district {
            Some(d) => format!("{}, {d}", l.city),
            None => l.city.clone(),
        };
        let mut facts = vec![place, format_price(l.price, &l.currency)];
        if let Some(b) = l.bedrooms {
            facts.push(if b == 1 {
                "1 bedroom".to_owned()
            } else {
                format!("{b} bedrooms")
            });
        }
        if let Some(a) = l.living_area {
            facts.push(format!("{a:.0} m²"));
        }
        let facts = facts.join(" · ");
        let why = why(item, &l.currency);
        let url = links.listing(l.id);
        let _ = writeln!(text, "* {}\n  {facts}\n  {why}\n  {url}\n", l.title);
        let _ = writeln!(
            html,
            "<li><a href=\"{}\"><strong>{}</strong></a><br>{}<br><em>{}</em></li>",
            escape_html(&url),
            escape_html(&l.title),
            escape_html(&facts),
            escape_html(&why)
        );
    }
    let _ = writeln!(html, "</ul>");
    let see_all = links.manage();
    if total > items.len() {
        let more = total - items.len();
        let _ = writeln!(text, "… and {more} more. See all: {see_all}\n");
        let _ = writeln!(
            html,
            "<p>… and {more} more. <a href=\"{}\">See all your matches</a></p>",
            escape_html(&see_all)
        );
    }
    footer(&mut text, &mut html, links, true);
    Rendered {
        subject,
        text,
        html,
    }
}

fn why(item: &MatchItem, currency: &str) -> String {
    let searches = match item.searches.as_slice() {
        [] => "your saved search".to_owned(),
        [one] => format!("your saved search \"{one}\""),
        many => format!(
            "your saved searches {}",
            many.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    match (item.reason, item.previous_price) {
        (MatchReason::PriceDrop, Some(before)) => format!(
            "Matches {searches}: price dropped from {} to {}",
            format_price(before, currency),
            format_price(item.price, currency)
        ),
        (MatchReason::PriceDrop, None) => format!("Matches {searches}: price dropped"),
        (MatchReason::BackOnMarket, _) => format!("Back on the market; matches {searches}"),
        (MatchReason::NowMatches, _) => format!("Changed and now matches {searches}"),
        (MatchReason::New, _) => format!("New listing matching {searches}"),
    }
}

const HTML_HEAD: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n";

fn footer(text: &mut String, html: &mut String, links: &Links, subscription: bool) {
    if subscription {
        let manage = links.manage();
        let _ = writeln!(text, "--\nManage your notifications: {manage}");
        let _ = write!(
            html,
            "<hr><p><a href=\"{}\">Manage your notifications</a>",
            escape_html(&manage)
        );
        if let Some(unsubscribe) = &links.unsubscribe {
            let _ = writeln!(text, "Unsubscribe from listing emails: {unsubscribe}");
            let _ = write!(
                html,
                " · <a href=\"{}\">Unsubscribe</a>",
                escape_html(unsubscribe)
            );
        }
        let _ = writeln!(html, "</p>");
    } else {
        let _ = writeln!(text, "--\nListing Exchange");
        let _ = writeln!(html, "<hr><p>Listing Exchange</p>");
    }
    html.push_str("</body></html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links {
            public_url: "https://homes.example".into(),
            unsubscribe: Some("https://homes.example/unsubscribe?token=t".into()),
        }
    }

    #[test]
    fn prices_are_grouped() {
        assert_eq!(format_price(350_000, "EUR"), "350,000 EUR");
        assert_eq!(format_price(999, "EUR"), "999 EUR");
        assert_eq!(format_price(1_234_567, "USD"), "1,234,567 USD");
    }

    #[test]
    fn html_is_escaped() {
        let item = MatchItem {
            listing: ListingSummary {
                id: 7,
                title: "<script>alert(1)</script> & co".into(),
                city: "Lisbon".into(),
                district: None,
                price: 100,
                currency: "EUR".into(),
                bedrooms: Some(1),
                living_area: None,
            },
            searches: vec!["\"quoted\" <b>".into()],
            reason: MatchReason::PriceDrop,
            price: 100,
            previous_price: Some(200),
        };
        let r = render_matches(&[item], 1, false, &links());
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(
            r.html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co")
        );
        assert!(r.text.contains("price dropped from 200 EUR to 100 EUR"));
        assert!(r.text.contains("https://homes.example/listings/7"));
    }

    #[test]
    fn missing_fields_are_reported() {
        let err = render_single(MailKind::VerifyEmail, &serde_json::json!({}), &links());
        assert_eq!(
            err.unwrap_err(),
            RenderError {
                kind: "verify_email",
                field: "link"
            }
        );
    }
}
