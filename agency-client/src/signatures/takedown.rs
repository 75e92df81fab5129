//! Checking an operator's take-down statement, signed by the platform's document-signing
//! certificate, before a listing taken down leaves this desk.

use api_types::SignedTakedown;
use base64::Engine;

use super::verifier::{Lookup, Usage, verify_chain};
use super::{PLATFORM_PARTY, Verifier, lower_serial, signing_time_ok, to_ms};
use crate::db::now_ms;

impl Verifier {
    /// Checks an operator's take-down of listing `listing_key` (version `version`) of agency
    /// `office_key`: the statement must name exactly that listing and version, and its signature
    /// must verify with a certificate ([`Verifier::fetch`] must have looked it up) that chains to
    /// the pinned root for document signing (RFC 9336), names the platform
    /// (`urn:listing-exchange:platform`), and was good when the statement was made. `Err` says
    /// why not, in plain words.
    pub fn check_takedown(
        &self,
        office_key: &str,
        listing_key: &str,
        version: i64,
        takedown: &SignedTakedown,
    ) -> Result<(), String> {
        let statement = takedown.statement.get();
        if statement.list_office_key != office_key
            || statement.listing_key != listing_key
            || statement.version != version
        {
            return Err(format!(
                "the take-down statement is about listing {}/{} version {}, not {office_key}/{listing_key} version {version}",
                statement.list_office_key, statement.listing_key, statement.version
            ));
        }
        let serial = &takedown.certificate_serial;
        let prepared = match self.lookups.get(&lower_serial(serial)) {
            Some(Lookup::Known(prepared)) => prepared,
            Some(Lookup::Bad(problem) | Lookup::Unknown(problem)) => return Err(problem.clone()),
            None => return Err(format!("certificate {serial} was not fetched")),
        };
        let cert = &prepared.cert;
        if cert.agency_id != PLATFORM_PARTY {
            return Err(format!(
                "the take-down statement is signed with certificate {serial}, which is not the platform's document-signing certificate"
            ));
        }
        let chain = prepared.chain.as_ref().map_err(Clone::clone)?;
        let signed_at = to_ms(statement.taken_down_at);
        if !prepared.chain_ok_throughout {
            let at = signed_at.clamp(prepared.not_before, prepared.not_after);
            verify_chain(&self.root_der, chain, serial, at, Usage::PlatformSigner)
                .map_err(|v| v.problem.unwrap_or_default())?;
        }
        let Ok(bytes) =
            base64::engine::general_purpose::STANDARD.decode(takedown.signature.value.trim())
        else {
            return Err("the take-down statement's signature is not valid base64".into());
        };
        if ca::sign::verify(
            &prepared.spki,
            takedown.signature.algorithm,
            takedown.statement.canonical_bytes(),
            &bytes,
        )
        .is_err()
        {
            return Err("the platform's signature does not match the take-down statement".into());
        }
        signing_time_ok(signed_at, prepared.not_after, cert.revocation(), now_ms())
            .map_err(|why| format!("the take-down statement cannot be trusted: {why}"))
    }
}
