//! How long encrypting and decrypting a CA key takes with [`KdfCost::CA`] (target: about a
//! second, see docs/benchmarks.md) and with the desk's [`KdfCost::DESK`], and how long
//! `openssl pkey` takes to read the CA-encrypted key when openssl is installed.
//!
//! `cargo bench -p ca --bench key_encryption` (`KEY_BENCH_RUNS=N` for another number of runs).

use std::process::Command;
use std::time::{Duration, Instant};

use ca::keys::{KdfCost, PrivateKey};

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration) {
    let all: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    let min = *all.iter().min().unwrap();
    let max = *all.iter().max().unwrap();
    (min, median(all), max)
}

fn main() {
    let runs: usize = std::env::var("KEY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let key = PrivateKey::generate_p256().unwrap();
    let passphrase = "a passphrase for the bench";
    for (name, cost) in [("CA", KdfCost::CA), ("DESK", KdfCost::DESK)] {
        let pem = key.to_encrypted_pem_with(passphrase, cost).unwrap();
        let (min, med, max) = time(runs, || {
            key.to_encrypted_pem_with(passphrase, cost).unwrap()
        });
        println!(
            "{name:<4} ({cost}) encrypt: median {med:?} (min {min:?}, max {max:?}, {runs} runs)"
        );
        let (min, med, max) = time(runs, || {
            PrivateKey::from_pem(&pem, Some(passphrase)).unwrap()
        });
        println!(
            "{name:<4} ({cost}) decrypt: median {med:?} (min {min:?}, max {max:?}, {runs} runs)"
        );
    }
    let dir = std::env::temp_dir().join(format!("key-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.key");
    std::fs::write(
        &file,
        key.to_encrypted_pem_with(passphrase, KdfCost::CA)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let openssl = Command::new("openssl").arg("version").output();
    match openssl {
        Ok(out) if out.status.success() => {
            let (min, med, max) = time(runs, || {
                let status = Command::new("openssl")
                    .args(["pkey", "-noout", "-passin"])
                    .arg(format!("pass:{passphrase}"))
                    .arg("-in")
                    .arg(&file)
                    .status()
                    .unwrap();
                assert!(status.success(), "openssl pkey failed");
            });
            println!(
                "openssl pkey ({}) reads the CA key: median {med:?} (min {min:?}, max {max:?}, {runs} runs)",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        _ => println!("!!!!! openssl not found: its reading time was not measured !!!!!"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
