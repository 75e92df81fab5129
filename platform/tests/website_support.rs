//! Helpers shared by the website tests (included with `#[path]`): a tiny cookie-keeping HTTP
//! "browser", CSRF extraction, reading emailed links from the outbox, and listing fixtures.
#![allow(dead_code)]

use diesel::prelude::*;
use platform::db::Db;
use platform::db::schema::notifications;
use platform::testing::{PlatformBuilder, PlatformProcess, TestDb};

/// A platform process on `db`.
pub fn site(db: &TestDb) -> PlatformProcess {
    PlatformBuilder::new(env!("CARGO_BIN_EXE_platform"))
        .database_url(&db.url)
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

/// Keeps the session cookie like a browser (the site uses one cookie).
#[derive(Debug)]
pub struct Browser {
    client: reqwest::blocking::Client,
    base: String,
    /// `name=value` of the session cookie.
    pub cookie: Option<String>,
}

impl Browser {
    /// A browser for the site at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Browser {
        Browser {
            client: platform::testing::http_client(),
            base: base.to_owned(),
            cookie: None,
        }
    }

    fn keep(&mut self, r: reqwest::blocking::Response) -> Page {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().trim().to_owned();
            if v.contains("Max-Age=0") || pair.ends_with('=') {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
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
        match &self.cookie {
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

/// The path and query of the newest emailed link of `kind` to `email`, from the outbox.
pub fn emailed_link(db: &Db, email: &str, kind: &str) -> String {
    let mut conn = db.get().unwrap();
    let payload: String = platform::with_conn!(&mut conn, |c| notifications::table
        .filter(notifications::recipient.eq(email))
        .filter(notifications::kind.eq(kind))
        .order(notifications::id.desc())
        .select(notifications::payload)
        .first(c))
    .expect("an email in the outbox");
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let link = v["link"].as_str().expect("a link").to_owned();
    // The link names the configured public URL; the test site runs on another port.
    let path_start = link.find("/account/").expect("an account link");
    link[path_start..].to_owned()
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
    let link = emailed_link(db, email, "verify_email");
    assert_eq!(b.get(&link).status, 200);
    let r = b.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", email), ("password", password)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// Publishes fixture listings (unsigned: the fixture signature does not verify) in Lisbon and
/// Porto; returns their ids in publication order.
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
            list_price: price,
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
