//! Contact the agency in a real headless browser (Chromium through chromedriver): on a listing's
//! page a visitor sends the form without ticking consent and sees the mistake next to the box,
//! with what they typed kept; ticks it, sends, and sees the confirmation; the enquiry is stored
//! once. Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test is skipped loudly.
//!
//! Set `WEBSITE_SCREENSHOTS=DIR` to write `phone-enquiry.png` (the form at 390 x 844) into `DIR`.

mod chromium;

use chromium::{Driver, browser_sized, click, eval, fill, wait_text};
use diesel::prelude::*;
use e2e_tests::website::{seed_listings, site};
use platform::db::schema::enquiries;
use platform::testing::TestDb;

#[test]
fn a_visitor_contacts_the_agency_from_the_listing_page() {
    if !chromium::available() {
        platform::testing::skip(
            "enquiry_browser::a_visitor_contacts_the_agency_from_the_listing_page",
            "needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: chromium chromium-driver)",
        );
        return;
    }
    let db = TestDb::sqlite();
    let app = site(&db);
    let ids = seed_listings(&db.db);
    let driver = Driver::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(browser_sized(&driver.url, 390, 844));
    let web = app.web_url.clone();
    let count = || -> i64 {
        let mut conn = db.db.get().unwrap();
        platform::with_conn!(&mut conn, |c| enquiries::table.count().get_result(c)).unwrap()
    };

    rt.block_on(async {
        c.goto(&format!("{web}/listings/{}", ids[0])).await.unwrap();
        wait_text(&c, "main", "Contact the agency").await;
        fill(&c, "enquiry-name", "Carla Browser").await;
        fill(&c, "enquiry-email", "carla@example.org").await;
        fill(&c, "enquiry-message", "Could I see it on Monday?").await;
        chromium::screenshot(&c, "WEBSITE_SCREENSHOTS", "phone-enquiry.png").await;
        click(&c, "#enquiry button[type=submit]").await;
        let text = wait_text(&c, "main", "tick the box").await;
        assert!(text.contains("Nothing was sent yet"), "{text}");
        let kept = eval(
            &c,
            "return document.getElementById('enquiry-message').value",
        )
        .await;
        assert_eq!(kept, "Could I see it on Monday?");
    });
    assert_eq!(count(), 0);

    rt.block_on(async {
        click(&c, "#enquiry input[name=consent]").await;
        click(&c, "#enquiry button[type=submit]").await;
        let text = wait_text(&c, "main", "Enquiry sent").await;
        assert!(text.contains("carla@example.org"), "{text}");
        c.close().await.unwrap();
    });
    assert_eq!(count(), 1);
}
