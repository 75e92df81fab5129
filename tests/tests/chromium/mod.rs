//! Headless Chromium for the browser tests (`website_browser.rs`, `console_browser.rs`):
//! chromedriver on a free loopback port, stopped when dropped, a WebDriver session through
//! fantoccini, and the few gestures the tests make.
#![allow(dead_code)] // each test file uses the gestures it needs

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Where the tests expect Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where the tests expect chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    /// Its WebDriver address.
    pub url: String,
}

impl Driver {
    /// Starts chromedriver and waits until it answers.
    pub fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let client = platform::testing::http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{url}/status")).send().is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on `driver`, 1280 x 1000.
pub async fn browser(driver: &str) -> Client {
    browser_sized(driver, 1280, 1000).await
}

/// A headless Chromium session whose viewport is `width` x `height` CSS pixels: a phone's
/// through Chromium's device emulation (a headless window is never narrower than 500 pixels),
/// else the window's.
pub async fn browser_sized(driver: &str, width: u32, height: u32) -> Client {
    let mut options = serde_json::json!({
        "binary": CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 format!("--window-size={},{}", width.max(500), height), "--lang=en"],
    });
    if width < 500 {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": true },
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a WebDriver session")
}

/// Runs `script` in the page and returns its value.
pub async fn eval(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Types `text` into the field with id `id`.
pub async fn fill(c: &Client, id: &str, text: &str) {
    // Retried: right after a navigation the element found may belong to the page being replaced.
    for attempt in 0..50 {
        let done = async {
            let field = c.find(Locator::Id(id)).await?;
            field.clear().await?;
            field.send_keys(text).await
        }
        .await;
        match done {
            Ok(()) => return,
            Err(e) if attempt == 49 => panic!("cannot fill #{id}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Clicks the first element matching `css`.
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (up to 15 s) until the text of `css` contains `needle`, and returns that text: a click
/// that submits a form returns before the next page has replaced the current one.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
            && text.contains(needle)
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{css} never showed {needle:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes a screenshot of the page as `name` into the folder the environment variable `var`
/// names (relative to the workspace), when it is set.
pub async fn screenshot(c: &Client, var: &str, name: &str) {
    if let Ok(dir) = std::env::var(var) {
        let png = c.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

/// True when Chromium and chromedriver are installed where the tests look for them.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}
