//! The test vectors published in `docs/agency-api.md` (section "Signatures"), read from the page
//! itself, so the documentation and the tests cannot drift apart.

use std::path::PathBuf;

/// The page.
pub fn agency_api_page() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/agency-api.md")
}

/// The content of the fenced block that follows `<!-- test-vector: NAME -->` on the page,
/// without its final newline. Panics, naming the vector, when the page has no such block.
pub fn agency_api_vector(name: &str) -> String {
    let path = agency_api_page();
    let page = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let marker = format!("<!-- test-vector: {name} -->");
    let mut lines = page
        .lines()
        .skip_while(|line| line.trim() != marker)
        .skip(1);
    let fence = lines
        .next()
        .unwrap_or_else(|| panic!("test vector {name:?} is missing from {}", path.display()));
    assert!(
        fence.starts_with("```"),
        "test vector {name:?}: a fenced block must follow its marker"
    );
    let body: Vec<&str> = lines.take_while(|line| !line.starts_with("```")).collect();
    body.join("\n")
}
