//! [`EmailAddress`]: an address checked once at the boundary, so the rest of the code never sees
//! a malformed one.

use serde::{Deserialize, Serialize};

/// A plausible email address, trimmed, with its domain lowercased (and, for comparison and
/// uniqueness, see [`EmailAddress::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Checks the shape `local@domain.tld` (no spaces or control characters, at most 254
    /// characters, a domain of letters, digits and hyphens with at least one dot).
    pub fn parse(input: &str) -> Result<EmailAddress, String> {
        let input = input.trim();
        let invalid = || format!("{input:?} is not an email address like name@example.com");
        if input.is_empty() {
            return Err("enter an email address".into());
        }
        if input.len() > 254 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = input.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') || local.contains('"') {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address as given (domain lowercased).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fully lowercased form, used for uniqueness and look-up.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn good_addresses_are_kept_with_lowercased_domain() {
        let a = EmailAddress::parse("  Ana.Silva+homes@Example.PT ").unwrap();
        assert_eq!(a.as_str(), "Ana.Silva+homes@example.pt");
        assert_eq!(a.key(), "ana.silva+homes@example.pt");
    }

    #[test]
    fn bad_addresses_are_refused() {
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@-x.com",
            "a@example..com",
            "a@exa mple.com",
            "a@@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
