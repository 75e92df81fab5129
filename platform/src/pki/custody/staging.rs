//! Making a new CA for a fresh database: created in a staging directory, recorded, and only
//! then moved into place; a CA recorded by a process that stopped before the move is moved on
//! the next start.

use std::path::Path;

use super::load;
use super::records::record_new_ca_with_files;
use super::stored::CaSnapshot;
use crate::config::Config;
use crate::db::DbConn;
use crate::pki::PkiError;
use crate::pki::error::Context;

/// A fresh database and an empty directory: the CA is made in a staging directory, recorded,
/// and only then moved into place, so a process that loses a race to record its CA (or fails)
/// leaves no CA behind.
pub(super) fn create(
    config: &Config,
    conn: &mut DbConn,
    dir: &Path,
    passphrase: Option<&str>,
    publication: &ca::Publication,
) -> Result<ca::CertificateAuthority, PkiError> {
    let staging = config
        .data_dir
        .join(format!(".ca-new-{:016x}", rand::random::<u64>()));
    let created = ca::CertificateAuthority::create(
        &staging,
        &config.ca.organization,
        passphrase,
        Some(publication),
    )
    .with_context(|| {
        format!(
            "creating the certificate authority in {}",
            staging.display()
        )
    });
    let recorded = created.and_then(|ca| {
        let files = CaSnapshot::of_dir(&staging)?;
        record_new_ca_with_files(conn, &ca, "ca.create", 0, Some(&files)).context(
            "recording the new certificate authority (another platform process may have \
             recorded its own CA in this database at the same moment: start again)",
        )
    });
    if let Err(e) = recorded {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    move_into_place(&staging, dir)?;
    let ca = load(dir, passphrase)?.with_publication(Some(publication.clone()));
    tracing::info!(fingerprint = %ca.root_fingerprint(), "created the certificate authority");
    Ok(ca)
}

fn move_into_place(staging: &Path, dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        // An empty directory (checked by the caller) is replaced.
        std::fs::remove_dir(dir).map_err(PkiError::io(format_args!(
            "cannot replace {}",
            dir.display()
        )))?;
    }
    std::fs::rename(staging, dir).map_err(PkiError::io(format_args!(
        "cannot move the new CA from {} to {}",
        staging.display(),
        dir.display()
    )))
}

/// A CA recorded by a process that stopped before moving it into place is moved now.
pub(super) fn finish_staged_creation(
    data_dir: &Path,
    dir: &Path,
    expected_fingerprint: &str,
) -> Result<bool, PkiError> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(false);
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let staged = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".ca-new-"));
        if !staged {
            continue;
        }
        let files = ca::custody::CaFiles::read(&path)?;
        if files
            .root_fingerprint()
            .is_some_and(|f| f.to_hex() == expected_fingerprint)
            && files.missing().is_empty()
        {
            move_into_place(&path, dir)?;
            tracing::info!(from = %path.display(), "moved a recorded CA into place");
            return Ok(true);
        }
    }
    Ok(false)
}
