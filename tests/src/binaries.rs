//! Where the end-to-end tests find the `platform` and `agency-client` binaries they start.
//!
//! One place: the directory cargo built the running test into. A test executable lives in
//! `<target>/<profile>/deps/`, and cargo puts the workspace's binaries in `<target>/<profile>/`,
//! so `./scripts/test` (which runs `cargo build --workspace --bins --tests` before the tests)
//! leaves exactly the binaries of the source under test there. Nothing here runs cargo: a test
//! that builds would wait forever on the build lock `cargo test` holds while tests run, and
//! would replace a binary other tests are running.
//!
//! A binary that is missing, or older than a file it was built from, is refused with a message
//! naming the command that builds it: testing an old binary would pass or fail for the wrong
//! reason. "Built from" is cargo's own record, the `<name>.d` file it writes beside the binary,
//! so this is the rule cargo itself uses to decide a rebuild.
//!
//! The one way to point elsewhere: `E2E_BIN_DIR=<folder>` (for example a release build, or
//! binaries built in another target directory); those binaries are used as they are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// The environment variable naming a folder that holds the binaries to test instead.
pub const BIN_DIR_VAR: &str = "E2E_BIN_DIR";

/// The `platform` binary (checked once per test process).
pub fn platform() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_binary("platform")).clone()
}

/// The `agency-client` binary (checked once per test process).
pub fn agency_client() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_binary("agency-client")).clone()
}

/// The path of the workspace binary `name`, checked to exist and, unless it comes from
/// [`BIN_DIR_VAR`], to be no older than its sources. Panics with what to do otherwise.
pub fn built_binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR) {
        let path = Path::new(&dir).join(name);
        assert!(
            path.is_file(),
            "{BIN_DIR_VAR}={} has no `{name}` binary: point it at the folder holding the \
             binaries to test, or unset it to use those cargo built beside the tests",
            Path::new(&dir).display()
        );
        return path;
    }
    let dir = profile_dir();
    let path = dir.join(name);
    let build = "build it with `cargo build --bins` (`./scripts/test` does), or set \
                 E2E_BIN_DIR to a folder that holds it";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "the end-to-end tests run the real `{name}` binary, expected at {}, which is \
                 not there: {build}",
                path.display()
            )
        });
    if let Some(newer) = newer_source(&dir.join(format!("{name}.d")), built) {
        panic!(
            "the `{name}` binary at {} is older than {}, one of the files it is built from: \
             {build}",
            path.display(),
            newer.display()
        );
    }
    path
}

/// `<target>/<profile>/`: the folder above the `deps/` folder this test executable is in.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let deps = exe.parent().expect("the test's folder");
    assert!(
        deps.file_name().is_some_and(|n| n == "deps"),
        "this test runs from {}, not from a cargo target directory: set {BIN_DIR_VAR} to the \
         folder that holds the `platform` and `agency-client` binaries",
        exe.display()
    );
    deps.parent().expect("the profile folder").to_owned()
}

/// The first file listed in the dep-info file `dep_info` (`binary: source source …`) that was
/// changed after `built`. Files that no longer exist are passed over (removing one changes
/// another that named it); no dep-info file means nothing to compare.
fn newer_source(dep_info: &Path, built: SystemTime) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dep_info).ok()?;
    text.lines()
        .filter_map(|line| line.split_once(": ").map(|(_, sources)| sources))
        .flat_map(dep_info_paths)
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .is_ok_and(|changed| changed > built)
        })
}

/// The paths of one dep-info rule's right-hand side: separated by spaces, a space inside a path
/// escaped as `\ `.
fn dep_info_paths(sources: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => current.push(chars.next().unwrap()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dep_info_paths_are_split_on_unescaped_spaces() {
        assert_eq!(
            dep_info_paths("/a/src/main.rs /b/my\\ dir/lib.rs  /c/x.sql"),
            [
                PathBuf::from("/a/src/main.rs"),
                PathBuf::from("/b/my dir/lib.rs"),
                PathBuf::from("/c/x.sql")
            ]
        );
        assert!(dep_info_paths("").is_empty());
    }

    #[test]
    fn a_source_changed_after_the_build_is_found_and_a_missing_one_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.rs");
        let new = dir.path().join("new.rs");
        std::fs::write(&old, "").unwrap();
        std::fs::write(&new, "").unwrap();
        let now = SystemTime::now();
        let set = |path: &Path, at: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(at)
                .unwrap()
        };
        set(&old, now - Duration::from_secs(60));
        set(&new, now);
        let gone = dir.path().join("gone.rs");
        let d = dir.path().join("bin.d");
        std::fs::write(
            &d,
            format!("{}: {} {}\n", "bin", gone.display(), old.display()),
        )
        .unwrap();
        assert_eq!(newer_source(&d, now - Duration::from_secs(30)), None);
        std::fs::write(
            &d,
            format!(
                "bin: {} {} {}\n",
                gone.display(),
                old.display(),
                new.display()
            ),
        )
        .unwrap();
        assert_eq!(newer_source(&d, now - Duration::from_secs(30)), Some(new));
        assert_eq!(newer_source(&dir.path().join("none.d"), now), None);
    }
}
