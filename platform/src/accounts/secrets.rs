//! Random tokens and their digests: the session ids, CSRF tokens and email-link tokens are random
//! 256-bit values; the database keeps only their SHA-256.

use base64::Engine;

/// A random 256-bit value, base64url without padding.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// Constant-time equality of two strings (lengths may leak; tokens have a fixed length).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Name of the unsubscribe key's row in `platform_secrets` (base64 of its 32 bytes).
pub const UNSUBSCRIBE_KEY: &str = "mail.unsubscribe_key";

/// The secrets every node needs, kept in the database (`platform_secrets`) so a node with an
/// empty data directory works: the unsubscribe key and the CA directory's files (keys as stored
/// on disk, encrypted when `PLATFORM_CA_PASSPHRASE` is set). The one module that touches the
/// table; values are never logged.
pub trait SecretStore {
    /// The value of `name`, if stored.
    fn stored_secret(&mut self, name: &str) -> diesel::QueryResult<Option<String>>;
    /// Every `(name, value)` whose name starts with `prefix`, by name.
    fn stored_secrets(&mut self, prefix: &str) -> diesel::QueryResult<Vec<(String, String)>>;
    /// Stores `value` under `name` unless a value is already stored; returns the stored value
    /// (so nodes starting together agree on the first one written).
    fn secret_or_insert(&mut self, name: &str, value: &str) -> diesel::QueryResult<String>;
    /// Stores `value` under `name`, replacing what was there.
    fn put_secret(&mut self, name: &str, value: &str) -> diesel::QueryResult<()>;
    /// Deletes the secrets under `prefix` whose names are not in `keep`.
    fn delete_secrets_except(
        &mut self,
        prefix: &str,
        keep: &[String],
    ) -> diesel::QueryResult<usize>;
}

crate::impl_for_backends!(SecretStore {
    fn stored_secret(&mut self, name: &str) -> diesel::QueryResult<Option<String>> {
        use crate::db::schema::platform_secrets as s;
        use diesel::prelude::*;
        s::table
            .filter(s::name.eq(name))
            .select(s::value)
            .first(self)
            .optional()
    }

    fn stored_secrets(&mut self, prefix: &str) -> diesel::QueryResult<Vec<(String, String)>> {
        use crate::db::schema::platform_secrets as s;
        use diesel::prelude::*;
        s::table
            .filter(s::name.like(format!("{}%", like_escape(prefix))).escape('\\'))
            .select((s::name, s::value))
            .order(s::name)
            .load(self)
    }

    fn secret_or_insert(&mut self, name: &str, value: &str) -> diesel::QueryResult<String> {
        use crate::db::schema::platform_secrets as s;
        use diesel::prelude::*;
        diesel::insert_into(s::table)
            .values((
                s::name.eq(name),
                s::value.eq(value),
                s::updated_at.eq(crate::db::now_ms()),
            ))
            .on_conflict(s::name)
            .do_nothing()
            .execute(self)?;
        s::table.filter(s::name.eq(name)).select(s::value).first(self)
    }

    fn put_secret(&mut self, name: &str, value: &str) -> diesel::QueryResult<()> {
        use crate::db::schema::platform_secrets as s;
        use diesel::prelude::*;
        let now = crate::db::now_ms();
        diesel::insert_into(s::table)
            .values((s::name.eq(name), s::value.eq(value), s::updated_at.eq(now)))
            .on_conflict(s::name)
            .do_update()
            .set((s::value.eq(value), s::updated_at.eq(now)))
            .execute(self)?;
        Ok(())
    }

    fn delete_secrets_except(&mut self, prefix: &str, keep: &[String]) -> diesel::QueryResult<usize> {
        use crate::db::schema::platform_secrets as s;
        use diesel::prelude::*;
        diesel::delete(
            s::table
                .filter(s::name.like(format!("{}%", like_escape(prefix))).escape('\\'))
                .filter(s::name.ne_all(keep)),
        )
        .execute(self)
    }
});

/// `text` with LIKE's wildcards escaped (by `\`).
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The unsubscribe key shared by every node: the stored one; else the one in
/// `<data_dir>/secrets/mail.key` (a deployment from before the key moved into the database),
/// imported; else a new random key. Then written to `<data_dir>/secrets/mail.key` (0600), where
/// the mail worker and the unsubscribe page read it, so every node signs and checks with the
/// same key. Race-safe: the first value stored wins and every node writes that one.
pub fn share_unsubscribe_key(
    conn: &mut crate::db::DbConn,
    data_dir: &std::path::Path,
) -> Result<(), SecretsError> {
    let path = crate::notify::unsubscribe::UnsubscribeKey::path(data_dir);
    let on_disk = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => Some(bytes),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(SecretsError::File { path, source }),
    };
    let candidate = on_disk
        .clone()
        .unwrap_or_else(|| rand::random::<[u8; 32]>().to_vec());
    let candidate = base64::engine::general_purpose::STANDARD.encode(candidate);
    let stored = crate::with_conn!(conn, |c| c.secret_or_insert(UNSUBSCRIBE_KEY, &candidate))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&stored)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or(SecretsError::Malformed(UNSUBSCRIBE_KEY))?;
    if on_disk.as_deref() == Some(&bytes[..]) {
        return Ok(());
    }
    if on_disk.is_some() {
        tracing::warn!(
            file = %path.display(),
            "this node's unsubscribe key differs from the one in the database; using the database's (links signed with this node's old key stop working)"
        );
    }
    let dir = path.parent().expect("the key path has a parent");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| SecretsError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    ca::write_private_file(&path, &bytes).map_err(SecretsError::Write)?;
    Ok(())
}

/// Why the shared secrets could not be read or written at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The database could not be reached or the query failed.
    #[error("reading the shared secrets from the database")]
    Query(#[from] diesel::result::Error),
    /// A stored secret is not what it should be.
    #[error(
        "the stored secret {0} is malformed: delete its row in platform_secrets to make a new one"
    )]
    Malformed(&'static str),
    /// A file of the data directory could not be read.
    #[error("cannot read {}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory's copy could not be written.
    #[error("cannot write the unsubscribe key into the data directory")]
    Write(#[source] ca::CaError),
}
/// The `site_keys` queries, for both backends: keys every node shares, made by whichever node
/// needs one first.
pub trait SiteKeyStore {
    /// The 32-byte key named `name`, created (random) when there is none yet. Two nodes asking
    /// at once get the same key: the insert does nothing when the row exists.
    fn site_key(&mut self, name: &str, now: i64) -> diesel::QueryResult<Vec<u8>>;
}

crate::impl_for_backends!(SiteKeyStore {
    fn site_key(&mut self, name: &str, now: i64) -> diesel::QueryResult<Vec<u8>> {
        use crate::db::schema::site_keys;
        use diesel::prelude::*;
        let fresh: [u8; 32] = rand::random();
        diesel::insert_into(site_keys::table)
            .values((
                site_keys::name.eq(name),
                site_keys::secret.eq(fresh.to_vec()),
                site_keys::created_at.eq(now),
            ))
            .on_conflict(site_keys::name)
            .do_nothing()
            .execute(self)?;
        site_keys::table
            .find(name)
            .select(site_keys::secret)
            .first(self)
    }
});
