//! The CA directory's files kept in the database (`platform_secrets`, names `ca/<file>`), so
//! that any number of nodes on one database need nothing shared on disk.
//!
//! The rows hold the files exactly as on disk: certificates, and the keys as `platform ca
//! encrypt-keys` left them (PKCS#8 encrypted with `PLATFORM_CA_PASSPHRASE`). A key stored in
//! clear on disk is never copied into the database: such a key stays on the disk where it was
//! made (a development setup), and a second node needs the files copied by hand (opening says
//! so). Once rows exist they are the CA's copy of record:
//!
//! * opening the CA first writes them into `DATA_DIR/ca` when that directory is empty or holds
//!   the same root (a node with an empty data directory, or a node whose copy predates a
//!   rollover, a root key removal or an encryption), unless the directory holds a rollover the
//!   database does not know yet, which opening records and then stores;
//! * the directory's files are stored when they differ from the rows (the first node of a
//!   deployment from before this table imports its files; a new CA is stored in the transaction
//!   that records it, so two nodes starting at once agree on one CA), and by each custody
//!   command that changes them, in its own transaction.

use std::collections::BTreeMap;
use std::path::Path;

use crate::accounts::secrets::SecretStore;
use crate::db::DbConn;
use crate::pki::PkiError;

/// Prefix of the CA's rows in `platform_secrets`.
const PREFIX: &str = "ca/";
/// Written by a rollover at its commit point (see `ca::custody`).
const ROLLOVER_COMMIT: &str = "issuing.next.crt";

/// The CA directory's files: path relative to the directory (`root.crt`, `retired/<id>.key`) →
/// contents. `Debug` lists names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CaSnapshot(BTreeMap<String, String>);

impl std::fmt::Debug for CaSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl CaSnapshot {
    /// True when no file is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The files the database may hold: every one but keys stored in clear.
    fn storable(&self) -> CaSnapshot {
        CaSnapshot(
            self.0
                .iter()
                .filter(|(name, text)| !is_plain_key(name, text))
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect(),
        )
    }

    /// Whether the current issuing CA's key is held.
    pub(crate) fn has_issuing_key(&self) -> bool {
        self.0.contains_key("issuing.key")
    }

    /// The SHA-256 fingerprint of the root certificate held, lowercase hex.
    pub(crate) fn root_fingerprint(&self) -> Option<String> {
        self.certificate_fingerprint("root.crt")
    }

    /// The SHA-256 fingerprint of the certificate file `name` held, lowercase hex.
    fn certificate_fingerprint(&self, name: &str) -> Option<String> {
        let pem = self.0.get(name)?;
        let der = ca::inspect::parse_chain_pem(pem).ok()?.into_iter().next()?;
        Some(ca::inspect::Fingerprint::of(&der).to_hex())
    }

    /// Reads the CA files of `dir` (a missing directory reads as empty).
    pub(crate) fn of_dir(dir: &Path) -> Result<CaSnapshot, PkiError> {
        let mut files = BTreeMap::new();
        let mut read = |relative: String| -> Result<(), PkiError> {
            let path = dir.join(&relative);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    files.insert(relative, text);
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(PkiError::io(format_args!("cannot read {}", path.display()))(e)),
            }
        };
        for name in ["root.crt", "root.key", "issuing.crt", "issuing.key"] {
            read(name.to_owned())?;
        }
        let retired = dir.join(ca::custody::RETIRED_DIR);
        if let Ok(entries) = std::fs::read_dir(&retired) {
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".crt") || n.ends_with(".key"))
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            for name in names {
                read(format!("{}/{name}", ca::custody::RETIRED_DIR))?;
            }
        }
        Ok(CaSnapshot(files))
    }

    /// The files stored in the database.
    pub(crate) fn stored(conn: &mut DbConn) -> Result<CaSnapshot, PkiError> {
        let rows = crate::with_conn!(conn, |c| c.stored_secrets(PREFIX))?;
        Ok(CaSnapshot(
            rows.into_iter()
                .filter_map(|(name, value)| Some((name.strip_prefix(PREFIX)?.to_owned(), value)))
                .collect(),
        ))
    }

    /// Stores these files as the database's copy (inside the caller's transaction), removing
    /// stored files no longer held. Keys in clear are left out; returns their names.
    pub(crate) fn save<C: SecretStore>(&self, c: &mut C) -> diesel::QueryResult<Vec<String>> {
        let mut left_out = Vec::new();
        let mut keep = Vec::new();
        for (name, text) in &self.0 {
            if is_plain_key(name, text) {
                left_out.push(name.clone());
                continue;
            }
            let row = format!("{PREFIX}{name}");
            if c.stored_secret(&row)?.as_deref() != Some(text.as_str()) {
                c.put_secret(&row, text)?;
            }
            keep.push(row);
        }
        c.delete_secrets_except(PREFIX, &keep)?;
        Ok(left_out)
    }

    /// Makes `dir` hold these files (keys 0600, each written atomically), removing the others
    /// except keys in clear (never stored, so never known here); returns true when anything
    /// changed.
    pub(crate) fn write_into(&self, dir: &Path) -> Result<bool, PkiError> {
        let current = CaSnapshot::of_dir(dir)?;
        if current.storable() == *self {
            return Ok(false);
        }
        create_private_dir(dir)?;
        for (name, text) in &self.0 {
            if current.0.get(name) == Some(text) {
                continue;
            }
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                create_private_dir(parent)?;
            }
            let written = if name.ends_with(".key") {
                ca::write_private_file(&path, text.as_bytes())
            } else {
                ca::write_public_file(&path, text.as_bytes())
            };
            written.map_err(PkiError::from)?;
        }
        let stale = current
            .0
            .iter()
            .filter(|(n, text)| !self.0.contains_key(*n) && !is_plain_key(n, text));
        for (name, _) in stale {
            let path = dir.join(name);
            std::fs::remove_file(&path).map_err(PkiError::io(format_args!(
                "cannot remove {}",
                path.display()
            )))?;
        }
        Ok(true)
    }
}

/// A key file whose key is not encrypted.
fn is_plain_key(name: &str, pem: &str) -> bool {
    name.ends_with(".key") && !ca::keys::KeyProtection::of_pem(pem).is_ok_and(|p| p.is_encrypted())
}

fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(PkiError::io(format_args!(
        "cannot create {}",
        dir.display()
    )))
}

/// Before the CA is opened: writes the stored files into `dir` when the database holds them and
/// `dir` is empty or holds the same root, unless `dir` holds a rollover the database does not
/// know yet (an interrupted one, or a current issuing CA that no row of `recorded` names: made
/// on this disk, its database step not done; opening records it and then stores the files).
/// Returns what the database held.
pub(crate) fn refresh_dir(
    conn: &mut DbConn,
    dir: &Path,
    recorded: &[super::CaCertificateRow],
) -> Result<CaSnapshot, PkiError> {
    let stored = CaSnapshot::stored(conn)?;
    if stored.is_empty() || dir.join(ROLLOVER_COMMIT).exists() {
        return Ok(stored);
    }
    let on_disk = CaSnapshot::of_dir(dir)?;
    if !stored.has_issuing_key() {
        // Keys in clear (a development setup): each node's directory is its own copy, as before
        // the keys were stored; an empty one is told where the keys are.
        if on_disk.is_empty() {
            return Err(PkiError::Refused(format!(
                "the database holds this CA's certificates but not its keys, which are not \
                 encrypted and so are kept only on the disk of the node that made them: on that \
                 node, encrypt them (`PLATFORM_CA_PASSPHRASE=... platform ca encrypt-keys`) and \
                 start every node with PLATFORM_CA_PASSPHRASE set, or copy that node's ca/ \
                 folder into {}; nothing was created",
                dir.display()
            )));
        }
        return Ok(stored);
    }
    let unrecorded_rollover = on_disk
        .certificate_fingerprint("issuing.crt")
        .is_some_and(|f| !recorded.iter().any(|r| r.fingerprint == f));
    let same_ca = on_disk.is_empty() || on_disk.root_fingerprint() == stored.root_fingerprint();
    if same_ca && !unrecorded_rollover && stored.write_into(dir)? {
        tracing::info!(dir = %dir.display(), "wrote the certificate authority's files from the database");
    }
    Ok(stored)
}

/// After the CA was opened: stores the directory's files when they differ from what the
/// database held (`stored`, from [`refresh_dir`]).
pub(crate) fn store_if_changed(
    conn: &mut DbConn,
    dir: &Path,
    stored: &CaSnapshot,
) -> Result<(), PkiError> {
    let on_disk = CaSnapshot::of_dir(dir)?;
    if on_disk.storable() == *stored {
        return Ok(());
    }
    store(conn, &on_disk)
}

/// Stores `files` as the database's copy of the CA, in its own transaction.
pub(crate) fn store(conn: &mut DbConn, files: &CaSnapshot) -> Result<(), PkiError> {
    let left_out = crate::write_tx!(conn, |c| files.save(c))?;
    warn_left_out(&left_out);
    tracing::info!(files = ?files, "stored the certificate authority's files in the database");
    Ok(())
}

/// Stores the CA directory `dir` inside the caller's transaction (a custody command that
/// changed it).
pub(crate) fn store_dir_in<C: SecretStore>(c: &mut C, dir: &Path) -> Result<(), PkiError> {
    let left_out = CaSnapshot::of_dir(dir)?.save(c)?;
    warn_left_out(&left_out);
    Ok(())
}

fn warn_left_out(left_out: &[String]) {
    if !left_out.is_empty() {
        tracing::warn!(
            keys = ?left_out,
            "CA keys in clear are not copied into the database: encrypt them with `platform ca encrypt-keys` (and set PLATFORM_CA_PASSPHRASE) so that other nodes get them; until then every other node needs a copy of this data directory's ca/"
        );
    }
}
