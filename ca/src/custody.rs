//! Custody of the CA's keys: what is on disk ([`CaFiles`]), the root key brought in only for the
//! moments it is needed ([`RootKey`]), its export and removal so it can live offline, the
//! rollover to a new issuing CA, and encrypting the keys at rest.
//!
//! Layout of a CA directory:
//!
//! | file | what |
//! |---|---|
//! | `root.crt` | the root certificate |
//! | `root.key` | the root key; absent while the root is offline |
//! | `issuing.crt`, `issuing.key` | the current issuing CA |
//! | `retired/<key id>.crt`, `retired/<key id>.key` | issuing CAs replaced by a rollover, kept to sign their CRLs until their certificates expire |
//!
//! A rollover writes the new issuing CA as `issuing.next.key` and `issuing.next.crt` first and
//! renames them into place; `issuing.next.crt` existing is the commit point, so an interrupted
//! rollover is completed (or, before that point, forgotten) the next time the CA is loaded.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType, Issuer, KeyPair};
use zeroize::Zeroizing;

use crate::authority::{
    ISSUING_CRT, ISSUING_KEY, ROOT_CRT, ROOT_KEY, cert_pem, create_private_dir, first_cert_der,
    in_file,
};
use crate::inspect::{self, Fingerprint};
use crate::keys::{KdfCost, KeyProtection, PrivateKey, pem_config};
use crate::{CaError, CertificateAuthority, io_err, write_private_file, write_public_file};

/// Sub-directory holding retired issuing CAs.
pub const RETIRED_DIR: &str = "retired";
const NEXT_ISSUING_CRT: &str = "issuing.next.crt";
const NEXT_ISSUING_KEY: &str = "issuing.next.key";

/// What a CA directory holds, read without decrypting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `root.crt`, DER.
    pub root: Option<Vec<u8>>,
    /// `issuing.crt`, DER.
    pub issuing: Option<Vec<u8>>,
    /// How `root.key` is protected; `None` when absent (root offline).
    pub root_key: Option<KeyProtection>,
    /// How `issuing.key` is protected; `None` when absent.
    pub issuing_key: Option<KeyProtection>,
    /// Retired issuing CAs: certificate (DER) and how their key is protected (`None`: absent).
    pub retired: Vec<(Vec<u8>, Option<KeyProtection>)>,
}

impl CaFiles {
    /// Reads `dir`; a missing directory reads as empty.
    pub fn read(dir: &Path) -> Result<CaFiles, CaError> {
        let cert = |name: &str| -> Result<Option<Vec<u8>>, CaError> {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(text) => Ok(Some(first_cert_der(&text, name)?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(&path)(e)),
            }
        };
        let mut files = CaFiles {
            dir: dir.to_path_buf(),
            root: cert(ROOT_CRT)?,
            issuing: cert(ISSUING_CRT)?,
            root_key: key_protection(&dir.join(ROOT_KEY))?,
            issuing_key: key_protection(&dir.join(ISSUING_KEY))?,
            retired: Vec::new(),
        };
        for (crt, key) in files.retired_files() {
            let text = fs::read_to_string(&crt).map_err(io_err(&crt))?;
            let der = first_cert_der(&text, &crt.display().to_string())?;
            files.retired.push((der, key_protection(&key)?));
        }
        Ok(files)
    }

    /// True when the directory holds no CA file at all (a new CA may be created there).
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
            && self.issuing.is_none()
            && self.root_key.is_none()
            && self.issuing_key.is_none()
            && self.retired.is_empty()
    }

    /// The required files that are missing (root.key is not required).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.root.is_none() {
            missing.push(ROOT_CRT);
        }
        if self.issuing.is_none() {
            missing.push(ISSUING_CRT);
        }
        if self.issuing_key.is_none() {
            missing.push(ISSUING_KEY);
        }
        missing
    }

    /// SHA-256 fingerprint of `root.crt`.
    pub fn root_fingerprint(&self) -> Option<Fingerprint> {
        self.root.as_deref().map(Fingerprint::of)
    }

    /// Every key file present, with how it is protected.
    pub fn key_files(&self) -> Vec<(PathBuf, KeyProtection)> {
        let mut keys = Vec::new();
        if let Some(p) = self.root_key {
            keys.push((self.dir.join(ROOT_KEY), p));
        }
        if let Some(p) = self.issuing_key {
            keys.push((self.dir.join(ISSUING_KEY), p));
        }
        for ((_, key), (_, protection)) in self.retired_files().into_iter().zip(&self.retired) {
            if let Some(p) = protection {
                keys.push((key, *p));
            }
        }
        keys
    }

    /// The key files that are not encrypted.
    pub fn unencrypted_keys(&self) -> Vec<PathBuf> {
        self.key_files()
            .into_iter()
            .filter(|(_, p)| !p.is_encrypted())
            .map(|(path, _)| path)
            .collect()
    }

    /// `(certificate, key)` paths of the retired issuing CAs, sorted by name.
    pub(crate) fn retired_files(&self) -> Vec<(PathBuf, PathBuf)> {
        let dir = self.dir.join(RETIRED_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .map(|crt| {
                let key = crt.with_extension("key");
                (crt, key)
            })
            .collect();
        out.sort();
        out
    }
}

fn key_protection(path: &Path) -> Result<Option<KeyProtection>, CaError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            KeyProtection::of_pem(&text)
                .map(Some)
                .map_err(|e| in_file(e, &path.display().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The root key, in memory only for a custody operation (a rollover, signing the root's CRL,
/// an export). `Debug` never shows key material.
pub struct RootKey {
    key: PrivateKey,
    certificate: Option<Vec<u8>>,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("key", &"[secret key elided]")
            .finish()
    }
}

impl RootKey {
    /// Reads an export made by [`CertificateAuthority::export_root`] (or a plain PKCS#8 key
    /// file): the key, decrypted with `passphrase` when encrypted, and the root certificate when
    /// the file carries one. A wrong or missing passphrase gives
    /// [`CaError::ExportPassphrase`].
    pub fn from_export(text: &str, passphrase: Option<&str>) -> Result<RootKey, CaError> {
        let blocks =
            pem::parse_many(text).map_err(|e| CaError::Pem(format!("root key export: {e}")))?;
        let key_block = blocks
            .iter()
            .find(|b| b.tag() == "ENCRYPTED PRIVATE KEY" || b.tag() == "PRIVATE KEY")
            .ok_or_else(|| CaError::Pem("the root key export holds no private key block".into()))?;
        let key_pem = Zeroizing::new(pem::encode_config(key_block, pem_config()));
        let key = PrivateKey::from_pem(&key_pem, passphrase).map_err(|e| match e {
            CaError::Passphrase => CaError::ExportPassphrase,
            other => other,
        })?;
        let certificate = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .map(|b| b.contents().to_vec());
        Ok(RootKey { key, certificate })
    }

    /// Checks that this is the key of `ca`'s root (and, when the export names a certificate,
    /// that it is `ca`'s root certificate).
    pub fn check_belongs_to(&self, ca: &CertificateAuthority) -> Result<(), CaError> {
        let root = inspect::parse_certificate_der(ca.root_der())?;
        if root.spki_der != self.key.public_key_der() {
            return Err(CaError::Certificate(format!(
                "this key is not the key of the root CA {}",
                ca.root_fingerprint()
            )));
        }
        if let Some(der) = &self.certificate
            && der.as_slice() != ca.root_der()
        {
            return Err(CaError::Certificate(format!(
                "the export carries the root certificate {}, not this CA's root {}",
                Fingerprint::of(der),
                ca.root_fingerprint()
            )));
        }
        Ok(())
    }

    pub(crate) fn issuer<'a>(
        &'a self,
        root_der: &[u8],
    ) -> Result<Issuer<'a, &'a KeyPair>, CaError> {
        Ok(Issuer::from_ca_cert_der(
            &root_der.into(),
            self.key.key_pair(),
        )?)
    }
}

impl CertificateAuthority {
    /// True when the root key is in the CA directory (online).
    pub fn root_key_online(&self) -> bool {
        self.dir().join(ROOT_KEY).exists()
    }

    /// Loads the root key from the CA directory; [`CaError::RootKeyOffline`] when it is not
    /// there.
    pub fn root_key(&self, passphrase: Option<&str>) -> Result<RootKey, CaError> {
        let path = self.dir().join(ROOT_KEY);
        let text = match fs::read_to_string(&path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaError::RootKeyOffline(self.dir().to_path_buf()));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let key = PrivateKey::from_pem(&text, passphrase).map_err(|e| in_file(e, ROOT_KEY))?;
        let root = RootKey {
            key,
            certificate: None,
        };
        root.check_belongs_to(self)?;
        Ok(root)
    }

    /// The root certificate and the root key encrypted with `passphrase` at `cost`, as one PEM
    /// text (certificate first), for keeping offline. `openssl pkey` reads the key from it.
    pub fn export_root(
        &self,
        root: &RootKey,
        passphrase: &str,
        cost: KdfCost,
    ) -> Result<Zeroizing<String>, CaError> {
        root.check_belongs_to(self)?;
        let key = root.key.to_encrypted_pem_with(passphrase, cost)?;
        Ok(Zeroizing::new(format!("{}{}", self.root_pem(), &*key)))
    }

    /// Deletes the root key from the CA directory (the root goes offline). The caller makes
    /// sure an export exists first.
    pub fn remove_root_key(&self) -> Result<(), CaError> {
        let path = self.dir().join(ROOT_KEY);
        fs::remove_file(&path).map_err(io_err(&path))?;
        sync_dir(self.dir());
        Ok(())
    }

    /// A new issuing CA signed by `root`: the current one moves to `retired/` (it signs no new
    /// certificate but keeps validating, and signing the CRL of, those it issued), the new key
    /// is written encrypted with `passphrase` ([`KdfCost::CA`]) when given, and the reloaded
    /// authority is returned. The root key is only used in memory, never written.
    ///
    /// Refused when the current keys are encrypted and no passphrase is given (the new key
    /// would be stored in clear).
    pub fn rollover(
        &self,
        root: &RootKey,
        passphrase: Option<&str>,
    ) -> Result<CertificateAuthority, CaError> {
        root.check_belongs_to(self)?;
        let dir = self.dir().to_path_buf();
        let files = CaFiles::read(&dir)?;
        if passphrase.is_none() && files.key_files().iter().any(|(_, p)| p.is_encrypted()) {
            return Err(CaError::Passphrase);
        }
        let root_info = inspect::parse_certificate_der(self.root_der())?;
        let organization =
            organization_of(self.root_der()).unwrap_or_else(|| root_info.subject.clone());
        let generation = files.retired.len() + 2;
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            format!("{organization} Issuing CA {generation}"),
        );
        name.push(DnType::OrganizationName, organization.as_str());
        let key = PrivateKey::generate_p256()?;
        let der = self.new_issuing_certificate(root, &key, &name)?;

        // The current issuing CA, as it is on disk, goes to retired/ first.
        let retired = dir.join(RETIRED_DIR);
        create_private_dir(&retired)?;
        let old_id = hex::encode(self.issuing_key_id());
        let old_key = Zeroizing::new(
            fs::read(dir.join(ISSUING_KEY)).map_err(io_err(&dir.join(ISSUING_KEY)))?,
        );
        write_private_file(&retired.join(format!("{old_id}.key")), &old_key)?;
        write_public_file(
            &retired.join(format!("{old_id}.crt")),
            self.issuing_pem().as_bytes(),
        )?;

        let key_text = match passphrase {
            Some(p) => key.to_encrypted_pem_with(p, KdfCost::CA)?,
            None => key.to_pem(),
        };
        write_private_file(&dir.join(NEXT_ISSUING_KEY), key_text.as_bytes())?;
        // The commit point: from here on, loading completes the rollover.
        write_public_file(&dir.join(NEXT_ISSUING_CRT), cert_pem(&der).as_bytes())?;
        finish_interrupted_rollover(&dir)?;
        let reloaded = CertificateAuthority::load(&dir, passphrase)?;
        Ok(reloaded.with_publication(self.publication().cloned()))
    }
}

/// Completes a rollover that was interrupted after its commit point, or forgets one that was
/// interrupted before it (see the module documentation).
pub(crate) fn finish_interrupted_rollover(dir: &Path) -> Result<(), CaError> {
    let next_crt = dir.join(NEXT_ISSUING_CRT);
    let next_key = dir.join(NEXT_ISSUING_KEY);
    if next_crt.exists() {
        if next_key.exists() {
            fs::rename(&next_key, dir.join(ISSUING_KEY)).map_err(io_err(&next_key))?;
        }
        fs::rename(&next_crt, dir.join(ISSUING_CRT)).map_err(io_err(&next_crt))?;
        sync_dir(dir);
    } else if next_key.exists() {
        fs::remove_file(&next_key).map_err(io_err(&next_key))?;
        sync_dir(dir);
    }
    Ok(())
}

/// Encrypts every key file of the CA directory `dir` with `passphrase` at `cost`, each file
/// replaced atomically. Keys already encrypted must open with the same passphrase; they are
/// encrypted again (which brings older, cheaper key derivations up to `cost`). Every new
/// content is prepared before the first file is replaced, and a key file is readable with
/// `passphrase` at every moment. Returns the files written.
pub fn encrypt_key_files(
    dir: &Path,
    passphrase: &str,
    cost: KdfCost,
) -> Result<Vec<PathBuf>, CaError> {
    if passphrase.is_empty() {
        return Err(CaError::Passphrase);
    }
    let files = CaFiles::read(dir)?;
    let mut prepared: Vec<(PathBuf, Zeroizing<String>)> = Vec::new();
    for (path, _) in files.key_files() {
        let text = Zeroizing::new(fs::read_to_string(&path).map_err(io_err(&path))?);
        let key = PrivateKey::from_pem(&text, Some(passphrase))
            .map_err(|e| in_file(e, &path.display().to_string()))?;
        prepared.push((path, key.to_encrypted_pem_with(passphrase, cost)?));
    }
    for (path, text) in &prepared {
        write_private_file(path, text.as_bytes())?;
    }
    Ok(prepared.into_iter().map(|(p, _)| p).collect())
}

/// The organisation (O) of a certificate's subject.
fn organization_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    cert.subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
        .map(str::to_owned)
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        // Durability of the rename; failure to sync a directory is not fatal.
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
