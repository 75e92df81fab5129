//! A load generator against a real `platform` process (the binary of this build): many agencies
//! drive the agency API over mutual TLS, then visitors drive the website's search. Three phases,
//! each for a fixed time, each reporting requests per second and latency percentiles:
//!
//! 1. signed publishes, each on a new connection (a full TLS handshake with the agency's client
//!    certificate, no session resumption);
//! 2. signed publishes over keep-alive connections (one per agency);
//! 3. website searches over HTTP keep-alive (the listings published above are the data).
//!
//! `cargo bench -p platform --bench load`. Knobs: BENCH_AGENCIES (50), BENCH_SECS per phase (10),
//! BENCH_THREADS client threads (4). The last line is machine-readable. Listings are signed by
//! the client threads as they go (outside the latency measured, inside the throughput).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::testing::agency::{TestAgency, client_config, fetch_root};
use platform::testing::{PlatformBuilder, PlatformProcess};
use rustls_pki_types::ServerName;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn enrol(app: &PlatformProcess, root: &str, n: usize) -> TestAgency {
    let out = app.cli_json(&[
        "agency",
        "add",
        "--name",
        &format!("Load Homes {n}"),
        "--licence",
        &format!("LOAD-{n}"),
        "--email",
        &format!("load{n}@agency.example"),
    ]);
    TestAgency::enroll(&app.agency_url(), root, out["token"].as_str().unwrap())
}

/// Requests per second and latency percentiles of one phase.
struct Figures {
    name: &'static str,
    rate: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    count: usize,
}

impl Figures {
    fn new(name: &'static str, mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
        assert!(!latencies.is_empty(), "{name}: no request completed");
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        Figures {
            name,
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: *latencies.last().unwrap(),
            count: latencies.len(),
        }
    }

    fn print(&self, threads: usize) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<28} {:>7.0}/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  \
             ({} requests, {threads} threads)",
            self.name,
            self.rate,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            self.count
        );
    }

    fn machine(&self) -> String {
        let us = |d: Duration| d.as_micros();
        format!(
            "{0}_per_sec={1:.0} {0}_p50_us={2} {0}_p90_us={3} {0}_p99_us={4} {0}_max_us={5}",
            self.name,
            self.rate,
            us(self.p50),
            us(self.p90),
            us(self.p99),
            us(self.max)
        )
    }
}

/// Runs `threads` workers for `secs`; worker `t` calls `step(t, i)` for i = 0, 1, ... and the
/// latency it returns is kept.
fn run_phase(
    name: &'static str,
    threads: usize,
    secs: u64,
    step: impl Fn(usize, usize) -> Duration + Sync,
) -> Figures {
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let step = &step;
                s.spawn(move || {
                    let mut kept = Vec::new();
                    let mut i = 0;
                    while Instant::now() < end {
                        kept.push(step(t, i));
                        i += 1;
                    }
                    kept
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    Figures::new(name, latencies, start.elapsed())
}

/// A signed listing for agency `a`: (path, body).
fn signed(agency: &TestAgency, key: &str, i: usize) -> (String, String) {
    let mut doc = api_types::ListingDocument::example(key);
    doc.list_price = api_types::Price::new(100_000 + (i as u64 % 400) * 1000).unwrap();
    (
        format!("/api/v1/listings/{key}"),
        serde_json::to_string(&agency.sign(&doc)).unwrap(),
    )
}

fn main() {
    platform::testing::install_crypto_provider();
    let n_agencies = env_usize("BENCH_AGENCIES", 50).max(1);
    let secs = env_usize("BENCH_SECS", 10).max(1) as u64;
    let threads = env_usize("BENCH_THREADS", 4).max(1);
    let bin = env!("CARGO_BIN_EXE_platform");

    let app = PlatformBuilder::new(bin).spawn().expect("platform starts");
    let root = fetch_root(&app.agency_url());
    let started = Instant::now();
    let agencies: Vec<TestAgency> = (0..n_agencies).map(|n| enrol(&app, &root, n)).collect();
    println!(
        "{n_agencies} agencies enrolled in {:.1} s; {secs} s per phase, {threads} client threads",
        started.elapsed().as_secs_f64()
    );

    // 1. A new connection and full handshake per publish.
    let configs: Vec<Arc<rustls::ClientConfig>> = agencies
        .iter()
        .map(|a| {
            let mut config = client_config(&a.root_pem, Some((&a.chain_pem, &a.key.to_pem())));
            config.resumption = rustls::client::Resumption::disabled();
            Arc::new(config)
        })
        .collect();
    let addr = app.agency_addr.expect("agency port");
    let handshake = run_phase("publish_new_connection", threads, secs, |t, i| {
        let a = (t + i * threads) % n_agencies;
        let (path, body) = signed(&agencies[a], &format!("H-{t}-{i}"), i);
        let request = format!(
            "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let began = Instant::now();
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_nodelay(true).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(&configs[a]), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, &mut sock);
        tls.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response);
        let took = began.elapsed();
        assert!(
            response.starts_with(b"HTTP/1.1 201"),
            "{}",
            String::from_utf8_lossy(&response)
        );
        took
    });
    handshake.print(threads);

    // 2. Keep-alive: one client (one connection) per agency, each thread its own agencies.
    let clients: Vec<reqwest::blocking::Client> = agencies.iter().map(|a| a.client()).collect();
    let keep_alive = run_phase("publish_keep_alive", threads, secs, |t, i| {
        let mine: Vec<usize> = (t..n_agencies).step_by(threads).collect();
        let a = if mine.is_empty() {
            t % n_agencies
        } else {
            mine[i % mine.len()]
        };
        let (path, body) = signed(&agencies[a], &format!("K-{t}-{i}"), i);
        let began = Instant::now();
        let r = clients[a]
            .put(agencies[a].url(&path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status();
        let _ = r.bytes();
        let took = began.elapsed();
        assert_eq!(status, 201);
        took
    });
    keep_alive.print(threads);

    // 3. Website searches over the listings published above.
    let visitors: Vec<reqwest::blocking::Client> = (0..threads)
        .map(|_| {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap()
        })
        .collect();
    let search = run_phase("website_search", threads, secs, |t, i| {
        let max_price = 150_000 + (i % 20) * 20_000;
        let url = format!("{}/search?city=Lisbon&max_price={max_price}", app.web_url);
        let began = Instant::now();
        let r = visitors[t].get(&url).send().unwrap();
        let status = r.status();
        let _ = r.bytes();
        let took = began.elapsed();
        assert_eq!(status, 200, "{url}");
        took
    });
    search.print(threads);

    println!(
        "load agencies={n_agencies} secs={secs} threads={threads} {} {} {}",
        handshake.machine(),
        keep_alive.machine(),
        search.machine()
    );
}
