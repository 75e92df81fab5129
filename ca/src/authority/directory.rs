//! Creating a new root and issuing CA in a directory, and loading one back (with its retired
//! issuing CAs), checking that every key belongs to its certificate and every certificate to
//! its issuer.

use std::fs;
use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

use super::issuing::{RetiredIssuing, issuing_ca_certificate};
use super::{
    CLOCK_SKEW, CertificateAuthority, ISSUING_CRT, ISSUING_KEY, ISSUING_VALIDITY_DAYS, Publication,
    ROOT_CRT, ROOT_KEY, ROOT_VALIDITY_DAYS, ca_name, cert_pem, create_private_dir, first_cert_der,
    in_file, random_serial, subject_key_id, verify_signed_by,
};
use crate::custody::CaFiles;
use crate::inspect;
use crate::keys::{KdfCost, KeyProtection, PrivateKey};
use crate::sign::SignatureProblem;
use crate::{CaError, io_err, write_private_file, write_public_file};

impl CertificateAuthority {
    /// Loads root + issuing CA from `dir` (files: root.crt, root.key, issuing.crt,
    /// issuing.key, and retired issuing CAs under retired/); creates them on first use
    /// (dir created 0700).
    ///
    /// Keys are written 0600 via [`write_private_file`], encrypted with the
    /// passphrase when one is given ([`KdfCost::CA`](crate::keys::KdfCost::CA)). Loading an
    /// encrypted key without or with the wrong passphrase gives [`CaError::Passphrase`]; loading
    /// a plaintext key when a passphrase is given is fine. root.key may be missing (the root key
    /// is kept offline); a directory missing any other file is refused rather than overwritten.
    pub fn load_or_create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
    ) -> Result<CertificateAuthority, CaError> {
        if CaFiles::read(dir)?.is_empty() {
            Self::create(dir, organization, passphrase, None)
        } else {
            Self::load(dir, passphrase)
        }
    }

    /// Creates a new root and issuing CA in `dir`, which must not hold any CA file yet (it is
    /// created 0700 when missing). With `publication`, the issuing CA's certificate names the
    /// root's CRL and certificate. Keys are encrypted with `passphrase` when given.
    pub fn create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
        publication: Option<&Publication>,
    ) -> Result<CertificateAuthority, CaError> {
        Self::create_with_validity(
            dir,
            organization,
            passphrase,
            publication,
            ROOT_VALIDITY_DAYS,
            ISSUING_VALIDITY_DAYS,
        )
    }

    pub(crate) fn create_with_validity(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
        publication: Option<&Publication>,
        root_days: i64,
        issuing_days: i64,
    ) -> Result<CertificateAuthority, CaError> {
        let existing = CaFiles::read(dir)?;
        if !existing.is_empty() {
            return Err(CaError::Certificate(format!(
                "{} already holds a CA; refusing to create another over it",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        let now = OffsetDateTime::now_utc();
        let root_key = PrivateKey::generate_p256()?;
        let issuing_key = PrivateKey::generate_p256()?;

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name(organization, "Root CA");
        root_params.not_before = now - CLOCK_SKEW;
        root_params.not_after = now + Duration::days(root_days);
        root_params.serial_number = Some(random_serial()?);
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root_params.self_signed(root_key.key_pair())?;
        let root_issuer = Issuer::from_params(&root_params, root_key.key_pair());
        let issuing_cert = issuing_ca_certificate(
            &issuing_key,
            &ca_name(organization, "Issuing CA"),
            &root_issuer,
            root_cert.der(),
            issuing_days,
            publication,
        )?;

        let key_text = |key: &PrivateKey| -> Result<zeroize::Zeroizing<String>, CaError> {
            match passphrase {
                Some(p) => key.to_encrypted_pem_with(p, KdfCost::CA),
                None => Ok(key.to_pem()),
            }
        };
        write_private_file(&dir.join(ROOT_KEY), key_text(&root_key)?.as_bytes())?;
        write_private_file(&dir.join(ISSUING_KEY), key_text(&issuing_key)?.as_bytes())?;
        write_public_file(&dir.join(ROOT_CRT), cert_pem(root_cert.der()).as_bytes())?;
        write_public_file(&dir.join(ISSUING_CRT), cert_pem(&issuing_cert).as_bytes())?;

        let ca = Self::assemble(
            dir,
            root_cert.der().to_vec(),
            issuing_cert,
            issuing_key,
            Vec::new(),
        )?;
        Ok(ca.with_publication(publication.cloned()))
    }

    /// Loads the CA from `dir`: root.crt, issuing.crt and issuing.key are required, root.key is
    /// optional (root offline); retired issuing CAs under retired/ that have not expired are
    /// loaded with their keys when present. An interrupted rollover is completed first.
    pub fn load(dir: &Path, passphrase: Option<&str>) -> Result<CertificateAuthority, CaError> {
        crate::custody::finish_interrupted_rollover(dir)?;
        let files = CaFiles::read(dir)?;
        let missing = files.missing();
        if !missing.is_empty() {
            return Err(CaError::Certificate(format!(
                "the CA directory {} is incomplete (missing {}); restore the files from backup \
                 or move the directory away to create a new CA",
                dir.display(),
                missing.join(", ")
            )));
        }
        let read = |name: &str| -> Result<String, CaError> {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(io_err(&path))
        };
        let root_der = first_cert_der(&read(ROOT_CRT)?, ROOT_CRT)?;
        let issuing_der = first_cert_der(&read(ISSUING_CRT)?, ISSUING_CRT)?;
        let issuing_key_pem = zeroize::Zeroizing::new(read(ISSUING_KEY)?);
        let issuing_key = PrivateKey::from_pem(&issuing_key_pem, passphrase)
            .map_err(|e| in_file(e, ISSUING_KEY))?;

        let root = inspect::parse_certificate_der(&root_der)?;
        let issuing = inspect::parse_certificate_der(&issuing_der)?;
        if files.root_key == Some(KeyProtection::Plain) {
            // Cheap to check when plain; an encrypted root key is checked when it is used.
            let root_key_pem = zeroize::Zeroizing::new(read(ROOT_KEY)?);
            let root_key =
                PrivateKey::from_pem(&root_key_pem, None).map_err(|e| in_file(e, ROOT_KEY))?;
            if root.spki_der != root_key.public_key_der() {
                return Err(CaError::Certificate(format!(
                    "{ROOT_KEY} does not belong to {ROOT_CRT} in {}",
                    dir.display()
                )));
            }
        }
        if issuing.spki_der != issuing_key.public_key_der() {
            return Err(CaError::Certificate(format!(
                "{ISSUING_KEY} does not belong to {ISSUING_CRT} in {}",
                dir.display()
            )));
        }
        if !root.is_ca || !issuing.is_ca {
            return Err(CaError::Certificate(format!(
                "{ROOT_CRT} and {ISSUING_CRT} must both be CA certificates"
            )));
        }
        verify_signed_by(&issuing_der, &root_der).map_err(|_| {
            CaError::Signature(SignatureProblem::NotSignedByRoot {
                certificate: ISSUING_CRT.into(),
                root: ROOT_CRT.into(),
            })
        })?;

        let now = OffsetDateTime::now_utc();
        let issuing_key_id = subject_key_id(&issuing_der)?;
        let mut retired = Vec::new();
        for (crt_path, key_path) in files.retired_files() {
            let name = crt_path.display().to_string();
            let text = fs::read_to_string(&crt_path).map_err(io_err(&crt_path))?;
            let der = first_cert_der(&text, &name)?;
            let info = inspect::parse_certificate_der(&der)?;
            let key_id = subject_key_id(&der)?;
            if info.not_after <= now || key_id == issuing_key_id {
                continue;
            }
            verify_signed_by(&der, &root_der).map_err(|_| {
                CaError::Signature(SignatureProblem::NotSignedByRoot {
                    certificate: name.clone(),
                    root: ROOT_CRT.into(),
                })
            })?;
            let issuer = match fs::read_to_string(&key_path) {
                Ok(pem) => {
                    let pem = zeroize::Zeroizing::new(pem);
                    let key = PrivateKey::from_pem(&pem, passphrase)
                        .map_err(|e| in_file(e, &key_path.display().to_string()))?;
                    if key.public_key_der() != info.spki_der {
                        return Err(CaError::Certificate(format!(
                            "{} does not belong to {name}",
                            key_path.display()
                        )));
                    }
                    Some(Issuer::from_ca_cert_der(
                        &der.as_slice().into(),
                        key.into_key_pair(),
                    )?)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(&key_path)(e)),
            };
            retired.push(RetiredIssuing {
                der,
                key_id,
                not_after: info.not_after,
                issuer,
            });
        }
        Self::assemble(dir, root_der, issuing_der, issuing_key, retired)
    }

    fn assemble(
        dir: &Path,
        root_der: Vec<u8>,
        issuing_der: Vec<u8>,
        issuing_key: PrivateKey,
        retired: Vec<RetiredIssuing>,
    ) -> Result<CertificateAuthority, CaError> {
        let issuing_key_id = subject_key_id(&issuing_der)?;
        let root_key_id = subject_key_id(&root_der)?;
        let root_not_after = inspect::parse_certificate_der(&root_der)?.not_after;
        let issuing_not_after = inspect::parse_certificate_der(&issuing_der)?.not_after;
        let issuer =
            Issuer::from_ca_cert_der(&issuing_der.as_slice().into(), issuing_key.into_key_pair())?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            root_pem: cert_pem(&root_der),
            issuing_pem: cert_pem(&issuing_der),
            root_der,
            root_key_id,
            root_not_after,
            issuing_der,
            issuing_key_id,
            issuing_not_after,
            issuer,
            retired,
            publication: None,
        })
    }
}
