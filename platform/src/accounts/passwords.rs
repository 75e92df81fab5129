//! Passwords: the policy ([`check_password`]) and argon2id hashing, m = 19456 KiB, t = 2, p = 1
//! (OWASP). Hashing is slow on purpose; the async wrappers run it on the blocking pool.

use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::error::AccountError;
use super::secrets::random_token;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (argon2 handles any length; this bounds the work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// Hashes a password (PHC string). Slow on purpose: call it on the blocking pool.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt: [u8; 16] = rand::random();
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hashing(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string. Slow on purpose: call it on the blocking pool.
pub fn verify_password(password: &str, hash: &str) -> bool {
    argon2().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash that no password matches in practice, checked for unknown emails so timing does not
/// tell which addresses have accounts.
pub(crate) fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// How long a request waits for a turn at hashing before it is answered "busy" (503).
pub const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Turns at argon2: about one per core at a time (each takes 19 MiB and a core for a while), so
/// a flood of registrations or sign-ins queues here instead of exhausting memory and CPU; what
/// waits longer than [`HASHING_WAIT`] is refused with [`AccountError::Busy`].
fn hashing_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// Runs `work` on the blocking pool once a hashing turn is free (waiting at most `wait`).
async fn with_turn<T: Send + 'static>(
    turns: &tokio::sync::Semaphore,
    wait: std::time::Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    let _turn = tokio::time::timeout(wait, turns.acquire())
        .await
        .map_err(|_| AccountError::Busy)?
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

/// [`hash_password`] on the blocking pool, in turn.
pub async fn hash_password_blocking(password: String) -> Result<String, AccountError> {
    with_turn(hashing_turns(), HASHING_WAIT, move || {
        hash_password(&password)
    })
    .await?
}

/// [`verify_password`] on the blocking pool, in turn.
pub async fn verify_password_blocking(
    password: String,
    hash: String,
) -> Result<bool, AccountError> {
    with_turn(hashing_turns(), HASHING_WAIT, move || {
        verify_password(&password, &hash)
    })
    .await
}

/// Checks the password policy; the message says what to do.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "use at least {MIN_PASSWORD_CHARS} characters (a few words make a good password)"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("use at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_waits_its_turn_and_a_long_wait_is_busy() {
        let turns = tokio::sync::Semaphore::new(1);
        let held = turns.acquire().await.unwrap();
        let wait = std::time::Duration::from_millis(50);
        let busy = with_turn(&turns, wait, || 1).await;
        assert!(matches!(busy, Err(AccountError::Busy)), "{busy:?}");
        drop(held);
        assert_eq!(with_turn(&turns, wait, || 2).await.unwrap(), 2);
    }

    #[test]
    fn passwords_hash_with_argon2id_owasp_parameters() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
    }
}
