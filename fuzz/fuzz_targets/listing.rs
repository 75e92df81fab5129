#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

use std::sync::OnceLock;

/// The CA the `csr` target issues from, made once per process in a temporary folder.
fn authority() -> &'static ca::CertificateAuthority {
    static CA: OnceLock<(tempfile::TempDir, ca::CertificateAuthority)> = OnceLock::new();
    &CA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let ca = ca::CertificateAuthority::create(dir.path(), "Fuzz CA", None, None).expect("a CA");
        (dir, ca)
    })
    .1
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::run("listing", authority(), data);
});
