//! Agency API throughput against the running server (the release `platform` binary):
//! full mutual-TLS handshakes per second (fresh connection, no session resumption, client
//! certificate, one small authenticated request each) and signed publishes per second over
//! keep-alive.
//!
//! `cargo bench -p platform --bench agency_tls` (set TEST_POSTGRES_URL to also measure
//! publishing on PostgreSQL). Knobs: BENCH_THREADS (4), BENCH_HANDSHAKES (2000),
//! BENCH_PUBLISHES (3000).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use platform::testing::agency::{TestAgency, fetch_root};
use platform::testing::{PlatformBuilder, PlatformProcess, TestDb};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn enrol(app: &PlatformProcess, licence: &str) -> TestAgency {
    let out = app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Bench Homes",
        "--licence",
        licence,
        "--email",
        "bench@agency.example",
    ]);
    let root = fetch_root(&app.agency_url());
    TestAgency::enroll(&app.agency_url(), &root, out["token"].as_str().unwrap())
}

fn handshakes(app: &PlatformProcess, agency: &TestAgency, threads: usize, total: usize) -> f64 {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(agency.root_pem.as_bytes()).unwrap())
        .unwrap();
    let chain: Vec<_> = CertificateDer::pem_slice_iter(agency.chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(agency.key.to_pem().as_bytes()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let addr = app.agency_addr.unwrap();
    let per_thread = total / threads;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let config = config.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    let mut sock = TcpStream::connect(addr).unwrap();
                    sock.set_nodelay(true).unwrap();
                    let name = ServerName::try_from("127.0.0.1").unwrap();
                    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, &mut sock);
                    tls.write_all(
                        b"GET /api/v1/agency HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    )
                    .unwrap();
                    let mut response = Vec::new();
                    let _ = tls.read_to_end(&mut response);
                    assert!(
                        response.starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(&response)
                    );
                }
            });
        }
    });
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

fn publishes(agency: &TestAgency, threads: usize, total: usize, tag: &str) -> f64 {
    let per_thread = total / threads;
    // Sign everything first: the figure is the server's.
    let bodies: Vec<Vec<(String, String)>> = (0..threads)
        .map(|t| {
            (0..per_thread)
                .map(|i| {
                    let mut doc = api_types::ListingDocument::example(&format!("{tag}-{t}-{i}"));
                    doc.list_price = api_types::Price::new(100_000 + i as u64).unwrap();
                    let body = serde_json::to_string(&agency.sign(&doc)).unwrap();
                    (
                        agency.url(&format!("/api/v1/listings/{}", doc.listing_key)),
                        body,
                    )
                })
                .collect()
        })
        .collect();
    let clients: Vec<_> = (0..threads).map(|_| agency.client()).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (client, bodies) in clients.iter().zip(&bodies) {
            s.spawn(move || {
                for (url, body) in bodies {
                    let r = client
                        .put(url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            });
        }
    });
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    platform::testing::install_crypto_provider();
    let threads = env_usize("BENCH_THREADS", 4);
    let n_handshakes = env_usize("BENCH_HANDSHAKES", 2000);
    let n_publishes = env_usize("BENCH_PUBLISHES", 3000);
    let bin = env!("CARGO_BIN_EXE_platform");

    let app = PlatformBuilder::new(bin).spawn().expect("platform starts");
    let agency = enrol(&app, "BENCH-1");
    handshakes(&app, &agency, 2, 100); // warm-up
    let hs = handshakes(&app, &agency, threads, n_handshakes);
    println!("mTLS handshakes: {hs:.0}/s ({n_handshakes} connections, {threads} client threads)");
    let sqlite = publishes(&agency, threads, n_publishes, "S");
    println!(
        "signed publishes, SQLite: {sqlite:.0}/s ({n_publishes}, keep-alive, {threads} threads)"
    );
    drop(app);

    let mut pg = f64::NAN;
    if let Some(db) = TestDb::postgres("bench agency_tls on PostgreSQL") {
        let app = PlatformBuilder::new(bin)
            .database_url(&db.url)
            .spawn()
            .expect("platform starts on PostgreSQL");
        let agency = enrol(&app, "BENCH-2");
        pg = publishes(&agency, threads, n_publishes, "P");
        println!("signed publishes, PostgreSQL: {pg:.0}/s");
    }
    println!(
        "agency_tls handshakes_per_sec={hs:.0} publishes_per_sec_sqlite={sqlite:.0} publishes_per_sec_postgres={pg:.0}"
    );
}
