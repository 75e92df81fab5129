//! Mail templates: a subject, a plain-text body and an HTML body for every [`MailKind`]. The
//! wording is decided here, from the payload; the layout is in askama templates under
//! `templates/mail/` (`single.*` for one-off mails, `matches.*` for match emails, `_footer.*`),
//! compiled into the binary like the site's pages. askama escapes every value in the `.html`
//! bodies (user, agency and listing text included); `.txt` bodies are left as written.

use askama::Template;
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
    /// Where the recipient manages their notifications: the account page (how often to mail)
    /// beside the saved searches it links to.
    pub fn manage(&self) -> String {
        format!("{}/account", self.public_url)
    }

    /// Where the recipient sees every match.
    pub fn all_matches(&self) -> String {
        format!("{}/notifications", self.public_url)
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
    /// A rent: the price is per month (shown "1,800 EUR / month", as on the site).
    pub monthly: bool,
}

impl ListingSummary {
    /// `amount` in this listing's currency, per month for a rent.
    pub fn price_text(&self, amount: i64) -> String {
        let price = format_price(amount, &self.currency);
        if self.monthly {
            format!("{price} / month")
        } else {
            price
        }
    }
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

/// `1234567` and `EUR` as `1,234,567 EUR`.
pub fn format_price(amount: i64, currency: &str) -> String {
    // The same grouping as the website's cards.
    format!("{} {currency}", crate::web::pages::group_digits(amount))
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
        MailKind::ConfirmNewEmail => (
            "Confirm your new email address".to_owned(),
            vec![
                "You asked to use this address for your Listing Exchange account. Confirm it to make the change.".to_owned(),
                "If you did not ask for this, ignore this email: nothing changes.".to_owned(),
            ],
            Some(("Use this address".to_owned(), field("link")?)),
        ),
        MailKind::EmailChangeRequested => (
            "Your email address is about to change".to_owned(),
            vec![
                format!(
                    "Someone signed in to your Listing Exchange account asked to use {} instead of this address. It changes only when the link sent there is confirmed.",
                    field("new_email")?
                ),
                "If it was not you, sign in and change your password: that signs out everyone else. Until the new address is confirmed, mail keeps coming here.".to_owned(),
            ],
            None,
        ),
        MailKind::SavedSearchExpiring => {
            let name = field("name")?;
            let mut paragraphs = vec![format!(
                "Your saved search \"{name}\" expires on {}. Renew it to keep getting matches.",
                field("expires_at")?
            )];
            // A buyer's mail links to the saved-searches page; an agency's says how its desk
            // renews (a payload has one or the other).
            let action = match field("renew_link") {
                Ok(link) => Some(("Renew this search".to_owned(), link)),
                Err(missing) => {
                    paragraphs.push(field("renew_hint").map_err(|_| missing)?);
                    None
                }
            };
            (
                format!("Your saved search \"{name}\" expires soon"),
                paragraphs,
                action,
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
            let mut lines = vec![format!("We could not approve the application of {name}.")];
            if let Some(reason) = payload.get("reason").and_then(|r| r.as_str()) {
                lines.push(format!("The reason: {reason}"));
            }
            lines.push("Reply to this email if you think this is a mistake.".to_owned());
            (
                format!("Your application for {name} was not approved"),
                lines,
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
        MailKind::Enquiry => {
            let title = field("listing_title")?;
            let phone = field("phone")?;
            let mut lines = vec![
                format!("A buyer asked about your listing \"{title}\" on Listing Exchange."),
                format!("Name: {}", field("name")?),
                format!("Email: {}", field("email")?),
            ];
            if !phone.is_empty() {
                lines.push(format!("Phone: {phone}"));
            }
            lines.push(format!("Message: {}", field("message")?));
            lines.push(
                "Your agency client adds this enquiry to your customers as a lead at its next sync; the platform then erases the buyer's details."
                    .to_owned(),
            );
            (
                format!("Enquiry about \"{title}\""),
                lines,
                Some(("See the listing".to_owned(), field("listing_link")?)),
            )
        }
    };
    let view = SingleView {
        paragraphs,
        action,
        footer: Footer::new(links, kind == MailKind::SavedSearchExpiring),
    };
    let (text, html) = (
        layout(SingleText { m: &view }),
        layout(SingleHtml { m: &view }),
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
            Some(item) if item.reason == MatchReason::PriceDrop => {
                format!("Price drop: {}", item.listing.title)
            }
            Some(item) => format!("New match: {}", item.listing.title),
            None => "1 new match".to_owned(),
        },
        (false, n) => format!("{n} new listings match your searches"),
    };
    let intro = if total == 1
        && items
            .first()
            .is_some_and(|i| i.reason == MatchReason::PriceDrop)
    {
        "A listing that matches your saved search is now cheaper.".to_owned()
    } else if total == 1 {
        "A listing matches your saved search.".to_owned()
    } else {
        format!("{total} listings match your saved searches.")
    };
    let lines = items
        .iter()
        .map(|item| {
            let l = &item.listing;
            let place = match &l.district {
                Some(d) => format!("{}, {d}", l.city),
                None => l.city.clone(),
            };
            let mut facts = vec![place, l.price_text(l.price)];
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
            MatchLine {
                title: l.title.clone(),
                facts: facts.join(" · "),
                why: why(item),
                url: links.listing(l.id),
            }
        })
        .collect();
    let view = MatchesView {
        intro,
        items: lines,
        more: total.saturating_sub(items.len()),
        see_all: links.all_matches(),
        footer: Footer::new(links, true),
    };
    let (text, html) = (
        layout(MatchesText { m: &view }),
        layout(MatchesHtml { m: &view }),
    );
    Rendered {
        subject,
        text,
        html,
    }
}

fn why(item: &MatchItem) -> String {
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
            item.listing.price_text(before),
            item.listing.price_text(item.price)
        ),
        (MatchReason::PriceDrop, None) => format!("Matches {searches}: price dropped"),
        (MatchReason::BackOnMarket, _) => format!("Back on the market; matches {searches}"),
        (MatchReason::NowMatches, _) => format!("Changed and now matches {searches}"),
        (MatchReason::New, _) => format!("New listing matching {searches}"),
    }
}

/// The end of every mail: where to manage notifications and how to unsubscribe (mails about a
/// subscription), or just the site's name.
#[derive(Debug)]
struct Footer {
    subscription: bool,
    manage: String,
    unsubscribe: Option<String>,
}

impl Footer {
    fn new(links: &Links, subscription: bool) -> Footer {
        Footer {
            subscription,
            manage: links.manage(),
            unsubscribe: links.unsubscribe.clone(),
        }
    }
}

/// What a one-off mail says: paragraphs, an optional (label, link) action, the footer.
#[derive(Debug)]
struct SingleView {
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
    footer: Footer,
}

/// One listing of a match email, worded.
#[derive(Debug)]
struct MatchLine {
    title: String,
    facts: String,
    why: String,
    url: String,
}

/// What a match email says.
#[derive(Debug)]
struct MatchesView {
    intro: String,
    items: Vec<MatchLine>,
    /// Matches not shown (a "see all" link covers them).
    more: usize,
    see_all: String,
    footer: Footer,
}

#[derive(Template)]
#[template(path = "mail/single.txt")]
struct SingleText<'a> {
    m: &'a SingleView,
}

#[derive(Template)]
#[template(path = "mail/single.html")]
struct SingleHtml<'a> {
    m: &'a SingleView,
}

#[derive(Template)]
#[template(path = "mail/matches.txt")]
struct MatchesText<'a> {
    m: &'a MatchesView,
}

#[derive(Template)]
#[template(path = "mail/matches.html")]
struct MatchesHtml<'a> {
    m: &'a MatchesView,
}

/// Renders a mail template. These templates only write strings, which cannot fail.
fn layout(template: impl Template) -> String {
    template
        .render()
        .expect("mail templates only write strings into a String")
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
    fn an_agency_expiry_mail_says_how_the_desk_renews_instead_of_linking_to_the_api() {
        let payload = serde_json::json!({
            "name": "tenant-7K2MQ4XA",
            "expires_at": "2027-01-01T00:00:00Z",
            "renew_hint": "Your agency client renews it: watch the tenant again.",
        });
        let m = render_single(MailKind::SavedSearchExpiring, &payload, &links()).unwrap();
        assert!(m.text.contains("watch the tenant again"), "{}", m.text);
        assert!(!m.text.contains("/api/v1/"), "{}", m.text);
        assert!(!m.html.contains("Renew this search"), "{}", m.html);
        let user = serde_json::json!({
            "name": "Alfama flats",
            "expires_at": "2027-01-01T00:00:00Z",
            "renew_link": "https://homes.example/saved",
        });
        let m = render_single(MailKind::SavedSearchExpiring, &user, &links()).unwrap();
        assert!(
            m.html.contains("href=\"https://homes.example/saved\""),
            "{}",
            m.html
        );
        let neither = serde_json::json!({"name": "x", "expires_at": "2027-01-01T00:00:00Z"});
        assert_eq!(
            render_single(MailKind::SavedSearchExpiring, &neither, &links())
                .unwrap_err()
                .field,
            "renew_link"
        );
    }

    #[test]
    fn an_enquiry_mail_names_the_buyer_and_links_the_listing() {
        let payload = serde_json::json!({
            "listing_title": "Flat <A-1>",
            "listing_link": "https://homes.example/listings/7",
            "name": "Ana",
            "email": "ana@example.org",
            "phone": "",
            "message": "Still free?",
        });
        let m = render_single(MailKind::Enquiry, &payload, &links()).unwrap();
        assert_eq!(m.subject, "Enquiry about \"Flat <A-1>\"");
        assert!(m.text.contains("Email: ana@example.org"), "{}", m.text);
        assert!(m.text.contains("Message: Still free?"), "{}", m.text);
        assert!(
            !m.text.contains("Phone:"),
            "no empty phone line: {}",
            m.text
        );
        assert!(m.text.contains("https://homes.example/listings/7"));
        assert!(m.html.contains("Flat &#60;A-1&#62;"), "{}", m.html);
        assert!(
            !m.text.contains("Unsubscribe"),
            "an agency mail has no subscription footer"
        );
        let mut without = payload.clone();
        without.as_object_mut().unwrap().remove("email");
        assert_eq!(
            render_single(MailKind::Enquiry, &without, &links())
                .unwrap_err()
                .field,
            "email"
        );
    }

    #[test]
    fn prices_are_grouped() {
        assert_eq!(format_price(350_000, "EUR"), "350,000 EUR");
        assert_eq!(format_price(999, "EUR"), "999 EUR");
        assert_eq!(format_price(1_234_567, "USD"), "1,234,567 USD");
    }

    fn item_listing() -> ListingSummary {
        ListingSummary {
            id: 8,
            title: "Flat to rent".into(),
            city: "Lisbon".into(),
            district: None,
            price: 1,
            currency: "EUR".into(),
            bedrooms: None,
            living_area: None,
            monthly: false,
        }
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
                monthly: false,
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
                .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; co")
        );
        assert!(r.text.contains("price dropped from 200 EUR to 100 EUR"));
        assert!(r.text.contains("https://homes.example/listings/7"));
        let rent = MatchItem {
            listing: ListingSummary {
                monthly: true,
                price: 1_800,
                ..item_listing()
            },
            searches: vec![],
            reason: MatchReason::PriceDrop,
            price: 1_800,
            previous_price: Some(1_950),
        };
        let m = render_matches(&[rent], 1, false, &links());
        assert!(
            m.text.contains("1,800 EUR / month"),
            "rents read as on the site: {}",
            m.text
        );
        assert!(
            m.text
                .contains("from 1,950 EUR / month to 1,800 EUR / month"),
            "{}",
            m.text
        );
        // A price drop is titled as one, not as a new match.
        assert_eq!(r.subject, "Price drop: <script>alert(1)</script> & co");
        assert!(r.text.contains("is now cheaper"), "{}", r.text);
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
