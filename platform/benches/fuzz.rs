//! The fuzz targets of `fuzz/` on stable Rust: a seeded mutational fuzzer over a corpus of
//! valid inputs (`fuzz/corpus/<target>/` plus seeds made here: a real CSR and certificate, the
//! example listing, search queries and bodies, vault bodies). Each input runs under
//! `catch_unwind`; a panic (a crash, or a broken invariant) is saved to
//! `fuzz/crashes/<target>-<sha256>` and fails the run, to become a regression test.
//!
//! `cargo bench -p platform --bench fuzz -- SECONDS [TARGET…]` (what `scripts/fuzz SECONDS`
//! runs): each target gets SECONDS. `FUZZ_SEED=N` repeats a run; `FUZZ_REPLAY=FILE` runs one
//! saved input through every target.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "../../fuzz/targets.rs"]
#[allow(dead_code)]
mod targets;

/// Tokens that often break parsers, spliced into inputs.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"0",
    b"1e309",
    b"-0",
    b"9223372036854775808",
    b"1.5",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\\u0000",
    b"\\ud800",
    b"%",
    b"%FF",
    b"&",
    b"=",
    b"+",
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----END CERTIFICATE-----\n",
    b"-----BEGIN CERTIFICATE REQUEST-----\n",
    b"\x30\x82\xff\xff",
    b"\x30\x80",
    b"AAAA",
    b"====",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
}

/// Seeds for `target`: its corpus folder plus inputs made here.
fn seeds(target: &str, csr: &str, cert_pem: &str, cert_der: &[u8]) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(root().join("corpus").join(target))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    let listing = serde_json::to_string(&api_types::ListingDocument::example("FUZZ-1")).unwrap();
    let made: Vec<Vec<u8>> = match target {
        "certificate" => vec![cert_der.to_vec(), cert_pem.as_bytes().to_vec()],
        "csr" => vec![
            csr.as_bytes().to_vec(),
            serde_json::to_vec(&serde_json::json!({"token": "t", "csr": csr})).unwrap(),
        ],
        "listing" => vec![listing.into_bytes(), br#"{"a":1.0,"b":[1e2,"\u00e9"],"c":{"z":null,"a":true}}"#.to_vec()],
        "search_web" => vec![
            b"transaction=sale&city=Lisbon&min_price=100000&max_price=500000&property_type=apartment&min_bedrooms=2&keywords=river+view&sort=price_asc&page=2".to_vec(),
            b"city=&min_area=10.5&max_area=200".to_vec(),
        ],
        "search_api" => vec![
            br#"{"criteria":{"city":"Lisbon","min_price":1000,"max_price":2000,"keywords":["garden"],"property_types":["house"]},"page":1,"per_page":20}"#.to_vec(),
        ],
        "vault" => vec![
            br#"{"public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","wrapped_key":"AAAA","recovery_public_key":"AAAA","recovery_wrapped_key":"AAAA","recovery_proof":"AAAA"}"#.to_vec(),
            br#"{"records":[{"id":"r1","base_version":0,"ciphertext":"AAAA","epoch":1}]}"#.to_vec(),
        ],
        _ => vec![],
    };
    seeds.extend(made);
    seeds
}

/// One to eight random edits of `input`.
fn mutate(rng: &mut StdRng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let at = if out.is_empty() {
            0
        } else {
            rng.random_range(0..=out.len())
        };
        match rng.random_range(0..7) {
            0 if !out.is_empty() => {
                let i = rng.random_range(0..out.len());
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + rng.random_range(1..=16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => {
                let byte: u8 = rng.random();
                out.insert(at, byte);
            }
            4 if !out.is_empty() => {
                // Repeat a chunk (long runs, deep nesting).
                let start = rng.random_range(0..out.len());
                let end = (start + rng.random_range(1..=8)).min(out.len());
                let chunk: Vec<u8> = out[start..end].repeat(rng.random_range(1..=64));
                out.splice(at..at, chunk);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.random_range(0..others.len())];
                let from = rng.random_range(0..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            _ => out.truncate(at),
        }
    }
    out.truncate(1 << 16);
    out
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let chosen: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        targets::TARGETS.to_vec()
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = ca::CertificateAuthority::create(dir.path(), "Fuzz CA", None, None).unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let csr = key.csr_pem("fuzz-desk").unwrap();
    let issued = ca
        .issue_client(
            &csr,
            &ca::ClientProfile::new("fuzz-agency", "Fuzz Homes", 90),
        )
        .unwrap();
    std::panic::set_hook(Box::new(|_| {}));
    if let Ok(file) = std::env::var("FUZZ_REPLAY") {
        let data = std::fs::read(&file).unwrap();
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
        for target in targets::TARGETS {
            targets::run(target, &ca, &data);
        }
        println!("{file}: no target panics");
        return;
    }
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!(
        "fuzzing {} target(s) for {seconds} s each, FUZZ_SEED={seed}",
        chosen.len()
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut crashes = 0;
    for target in chosen {
        let corpus = seeds(target, &csr, &issued.pem, &issued.der);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut runs = 0u64;
        let mut found = 0;
        while Instant::now() < deadline {
            let base = &corpus[rng.random_range(0..corpus.len())];
            let input = mutate(&mut rng, base, &corpus);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                targets::run(target, &ca, &input)
            }));
            runs += 1;
            if outcome.is_err() {
                found += 1;
                let name = hex::encode(ring::digest::digest(&ring::digest::SHA256, &input));
                let path = root()
                    .join("crashes")
                    .join(format!("{target}-{}", &name[..16]));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &input).unwrap();
                eprintln!("CRASH in {target}: saved {}", path.display());
                if found >= 5 {
                    break;
                }
            }
        }
        println!("{target:>12}: {runs} inputs, {found} crash(es)");
        crashes += found;
    }
    if crashes > 0 {
        eprintln!(
            "{crashes} crash(es): replay each with FUZZ_REPLAY=FILE and make it a regression test"
        );
        std::process::exit(1);
    }
}
