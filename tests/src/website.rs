//! The website tests' helpers: a tiny cookie-keeping HTTP "browser", CSRF extraction, reading
//! emailed links from the outbox, and listing fixtures.

use diesel::prelude::*;
use platform::db::Db;
use platform::db::schema::notifications;
use platform::testing::{PlatformProcess, TestDb};

/// A platform process on `db`.
pub fn site(db: &TestDb) -> PlatformProcess {
    crate::platform()
        .database_url(&db.url)
        // Match emails are held for a batching window; a short one keeps the test quick.
        .env("PLATFORM_MAIL_BATCH_WINDOW_SECS", "1")
        // The links in its mails lead back to it (followed by the browser test).
        .web_public_on_free_port()
        .spawn()
        .expect("platform starts")
}

/// An answer: status, body and the `Location` header.
#[derive(Debug)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// Redirect target.
    pub location: Option<String>,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

/// Keeps the site's cookies like a browser: the session cookie, and the anonymous CSRF cookie a
/// form page sets for a visitor without a session.
#[derive(Debug)]
pub struct Browser {
    client: reqwest::blocking::Client,
    base: String,
    /// `name=value` of the session cookie.
    pub cookie: Option<String>,
    /// `name=value` of the anonymous CSRF cookie.
    pub csrf_cookie: Option<String>,
}

impl Browser {
    /// A browser for the site at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Browser {
        Browser::with_client(base, platform::testing::http_client())
    }

    /// A browser for the site at `base` using `client` (one bound to another loopback address,
    /// say, to act as another visitor).
    pub fn with_client(base: &str, client: reqwest::blocking::Client) -> Browser {
        Browser {
            client,
            base: base.to_owned(),
            cookie: None,
            csrf_cookie: None,
        }
    }

    /// The HTTP client this browser sends with (to send a request of one's own from the same
    /// address).
    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// The `Cookie` header this browser sends (None without cookies).
    pub fn cookie_header(&self) -> Option<String> {
        let both: Vec<&str> = [&self.cookie, &self.csrf_cookie]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!both.is_empty()).then(|| both.join("; "))
    }

    fn keep(&mut self, r: reqwest::blocking::Response) -> Page {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().trim().to_owned();
            let slot = if pair.starts_with("csrf=") || pair.starts_with("__Host-csrf=") {
                &mut self.csrf_cookie
            } else {
                &mut self.cookie
            };
            if v.contains("Max-Age=0") || pair.ends_with('=') {
                *slot = None;
            } else {
                *slot = Some(pair);
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            body: r.text().unwrap(),
            location,
        }
    }

    fn with_cookie(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match self.cookie_header() {
            Some(c) => req.header("Cookie", c),
            None => req,
        }
    }

    /// GET `path`.
    pub fn get(&mut self, path: &str) -> Page {
        let req = self.with_cookie(self.client.get(format!("{}{path}", self.base)));
        let r = req.send().expect("GET");
        self.keep(r)
    }

    /// POST a form to `path`.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.with_cookie(self.client.post(format!("{}{path}", self.base)));
        let r = req.form(form).send().expect("POST");
        self.keep(r)
    }

    /// GETs `form_page`, then POSTs `form` plus its CSRF token to `action`.
    pub fn submit(&mut self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).csrf();
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        fields.extend_from_slice(form);
        self.post(action, &fields)
    }
}

/// The path and query of the link in the newest email of `kind` to `email`, read from the `.eml`
/// files the platform's mail worker wrote (the outbox payload holding the token is scrubbed once
/// the mail is sent). Waits until every queued email of that kind to that address is on disk.
pub fn emailed_link(app: &PlatformProcess, db: &Db, email: &str, kind: &str) -> String {
    let path = match kind {
        "verify_email" => "/account/verify?token=",
        "password_reset" => "/account/reset?token=",
        "confirm_new_email" => "/account/email/confirm?token=",
        other => panic!("no link in {other} emails"),
    };
    let dir = app.data_dir.join("mail");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut conn = db.get().unwrap();
        let queued: i64 = platform::with_conn!(&mut conn, |c| notifications::table
            .filter(notifications::recipient.eq(email))
            .filter(notifications::kind.eq(kind))
            .count()
            .get_result(c))
        .unwrap();
        let mut found: Vec<(std::time::SystemTime, String, String)> = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.path();
            if file.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            if !String::from_utf8_lossy(&bytes).contains(email) {
                continue;
            }
            let Some(message) = mail_parser::MessageParser::default().parse(&bytes) else {
                continue;
            };
            let text = message.body_text(0).unwrap_or_default().into_owned();
            if let Some(i) = text.find(path) {
                let link: String = text[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap();
                found.push((modified, file.display().to_string(), link));
            }
        }
        if queued > 0 && found.len() as i64 >= queued {
            found.sort();
            return found.pop().unwrap().2;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{queued} {kind} email(s) to {email} queued, {} delivered to {}",
            found.len(),
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Follows an emailed confirmation `link` as a person does: opens it (a page with a button,
/// which changes nothing) and presses the button (a POST with the link's token).
pub fn confirm(b: &mut Browser, link: &str) {
    let page = b.get(link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Confirm my email"), "{}", page.body);
    let token = link.split_once("token=").expect("a token in the link").1;
    let r = b.post("/account/verify", &[("token", token)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Email confirmed"), "{}", r.body);
}

/// Registers, confirms and signs in `email`; returns the signed-in browser.
pub fn signed_in(app: &PlatformProcess, db: &Db, email: &str) -> Browser {
    let mut b = Browser::new(&app.web_url);
    let password = "a long enough password";
    let r = b.submit(
        "/account/register",
        "/account/register",
        &[("email", email), ("password", password)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let link = emailed_link(app, db, email, "verify_email");
    confirm(&mut b, &link);
    let r = b.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", email), ("password", password)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// Publishes fixture listings (signed with the fixture agency's real key) in Lisbon and Porto;
/// returns their ids in publication order.
pub fn seed_listings(db: &Db) -> Vec<i64> {
    use api_types::{ListingDocument, PropertyType, TransactionType};
    let mut conn = db.get().unwrap();
    let (agency, serial) =
        platform::testing::fixtures::active_agency_with_certificate(&mut conn, "Seed Homes");
    let mut ids = Vec::new();
    let docs = [
        (
            "L-1",
            "Lisbon",
            350_000,
            TransactionType::Sale,
            PropertyType::Apartment,
            "River view flat",
        ),
        (
            "L-2",
            "Lisbon",
            520_000,
            TransactionType::Sale,
            PropertyType::House,
            "Family house with garden",
        ),
        (
            "L-3",
            "Lisbon",
            1_200,
            TransactionType::Rent,
            PropertyType::Apartment,
            "Studio near the tram",
        ),
        (
            "P-1",
            "Porto",
            280_000,
            TransactionType::Sale,
            PropertyType::Apartment,
            "Ribeira loft",
        ),
    ];
    for (key, city, price, t, p, title) in docs {
        let doc = ListingDocument {
            city: city.into(),
            list_price: api_types::Price::new(price).unwrap(),
            transaction_type: t,
            property_type: p,
            title: title.into(),
            ..ListingDocument::example(key)
        };
        let published = platform::testing::fixtures::publish(&mut conn, agency.id, &serial, &doc)
            .expect("publish fixture");
        ids.push(published.current.id);
    }
    ids
}
