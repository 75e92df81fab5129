//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps,
//! 6 digits, the operator's clock allowed one step either way. A code is accepted once: the
//! caller stores the step it matched and passes it back as `last_step`, so a code seen over a
//! shoulder or in a proxy log cannot be used again, not even within its 30 seconds.

use ring::hmac;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommended length for HMAC-SHA1).
pub const SECRET_BYTES: usize = 20;

/// A new random secret, base32 (RFC 4648, no padding) as authenticator apps take it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The `otpauth://` URI an authenticator app imports (typed in, or from a QR code).
pub fn otpauth_uri(secret: &str, account: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc("Listing Exchange"),
        enc(account),
        enc("Listing Exchange")
    )
}

/// HOTP (RFC 4226) of `key` at `counter`, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The step a Unix time (seconds) falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The 6-digit code of a base32 `secret` at a Unix time, zero-padded.
pub fn code_at(secret: &str, unix_secs: i64) -> Option<String> {
    let key = decode_secret(secret)?;
    Some(format!(
        "{:06}",
        hotp(&key, step_at(unix_secs) as u64, DIGITS)
    ))
}

fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let clean: String = secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// Checks `code` against `secret` at `unix_secs`, one step either way, refusing any step at or
/// before `last_step` (a code used once is never accepted again). Returns the matched step to
/// store as the new `last_step`.
pub fn verify(secret: &str, code: &str, unix_secs: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = decode_secret(secret)?;
    let now = step_at(unix_secs);
    let mut matched = None;
    for step in [now - 1, now, now + 1] {
        if step < 0 || last_step.is_some_and(|last| step <= last) {
            continue;
        }
        let expected = format!("{:06}", hotp(&key, step as u64, DIGITS));
        // Every candidate is compared (no early exit), in constant time.
        if crate::accounts::secrets::constant_time_eq(&expected, &code) {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 seed is the ASCII "12345678901234567890"; the table gives
    /// 8-digit codes, of which the 6-digit ones are the last six digits.
    #[test]
    fn rfc_6238_sha1_vectors() {
        let key = b"12345678901234567890";
        let vectors: [(i64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (t, expected) in vectors {
            assert_eq!(hotp(key, step_at(t) as u64, 8), expected, "T = {t}");
            let secret = data_encoding::BASE32_NOPAD.encode(key);
            assert_eq!(
                code_at(&secret, t).unwrap(),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    /// RFC 4226 appendix D: HOTP values for counters 0..9.
    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), code);
        }
    }

    #[test]
    fn one_step_either_way_and_never_twice() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let t = 1_700_000_000;
        let code = code_at(&secret, t).unwrap();
        let step = verify(&secret, &code, t, None).expect("the current code");
        assert_eq!(step, step_at(t));
        // Used once: refused again, even within its 30 seconds.
        assert_eq!(verify(&secret, &code, t, Some(step)), None);
        // The clock one step off either way is tolerated, two are not.
        assert!(verify(&secret, &code, t + STEP_SECS, None).is_some());
        assert!(verify(&secret, &code, t - STEP_SECS, None).is_some());
        assert!(verify(&secret, &code, t + 2 * STEP_SECS, None).is_none());
        // An older code after a newer one was used is refused.
        let next = code_at(&secret, t + STEP_SECS).unwrap();
        let used = verify(&secret, &next, t, None).unwrap();
        assert_eq!(verify(&secret, &code, t, Some(used)), None);
        // Malformed input is refused, spaces are allowed.
        assert!(verify(&secret, "12345", t, None).is_none());
        assert!(verify(&secret, "abcdef", t, None).is_none());
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(&secret, &spaced, t, None).is_some());
    }

    #[test]
    fn the_uri_names_the_account_and_the_parameters() {
        let uri = otpauth_uri("ABC", "ops@example.org");
        assert!(uri.starts_with("otpauth://totp/Listing%20Exchange:ops%40example.org?secret=ABC"));
        assert!(uri.contains("digits=6") && uri.contains("period=30"));
    }
}
