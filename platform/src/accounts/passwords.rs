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

/// Argon2 runs (hashes and checks) in this process, counted for `/metrics`
/// (`platform_password_hashes_total`), so a test can see that a refused request did no hashing.
fn hashes_run() -> &'static prometheus_client::metrics::counter::Counter {
    static RUN: OnceLock<prometheus_client::metrics::counter::Counter> = OnceLock::new();
    RUN.get_or_init(Default::default)
}

/// Registers the argon2 counters with `metrics`: runs, and requests refused as busy.
pub fn register_metrics(metrics: &crate::metrics::Metrics) {
    metrics.register(
        "password_hashes",
        "Argon2 password hashes and checks run",
        hashes_run().clone(),
    );
    metrics.register(
        "password_hashing_refusals",
        "Requests answered busy (503) because every argon2 turn and queue place was taken",
        busy_refusals().clone(),
    );
}

fn busy_refusals() -> &'static prometheus_client::metrics::counter::Counter {
    static BUSY: OnceLock<prometheus_client::metrics::counter::Counter> = OnceLock::new();
    BUSY.get_or_init(Default::default)
}

/// Hashes a password (PHC string). Slow on purpose: call it on the blocking pool.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    hashes_run().inc();
    let salt: [u8; 16] = rand::random();
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hashing(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string. Slow on purpose: call it on the blocking pool.
pub fn verify_password(password: &str, hash: &str) -> bool {
    hashes_run().inc();
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

/// Requests that may wait for a turn, per turn: past `turns × QUEUE_PER_TURN` waiting, a request
/// is refused at once instead of queueing (a bounded queue: waiting requests hold memory and
/// connections too).
pub const QUEUE_PER_TURN: usize = 4;

/// Turns at argon2 and the queue before them: about one turn per core at a time (each takes
/// 19 MiB and a core for a while), so a flood of registrations or sign-ins queues here instead of
/// exhausting memory and CPU; what finds the queue full, or waits longer than [`HASHING_WAIT`],
/// is refused with [`AccountError::Busy`] (503 with `Retry-After`).
#[derive(Debug)]
struct HashingTurns {
    turns: tokio::sync::Semaphore,
    queue: tokio::sync::Semaphore,
}

impl HashingTurns {
    fn new(turns: usize) -> HashingTurns {
        HashingTurns {
            turns: tokio::sync::Semaphore::new(turns),
            queue: tokio::sync::Semaphore::new(turns * (1 + QUEUE_PER_TURN)),
        }
    }
}

fn hashing_turns() -> &'static HashingTurns {
    static TURNS: OnceLock<HashingTurns> = OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingTurns::new(cores)
    })
}

/// Runs `work` on the blocking pool once a hashing turn is free (waiting at most `wait`, and only
/// when the queue has room).
async fn with_turn<T: Send + 'static>(
    turns: &HashingTurns,
    wait: std::time::Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    let busy = || {
        busy_refusals().inc();
        AccountError::Busy
    };
    // A place in the line (those hashing included), or busy at once.
    let _place = turns.queue.try_acquire().map_err(|_| busy())?;
    let _turn = tokio::time::timeout(wait, turns.turns.acquire())
        .await
        .map_err(|_| busy())?
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
        let turns = HashingTurns::new(1);
        let held = turns.turns.acquire().await.unwrap();
        let wait = std::time::Duration::from_millis(50);
        let busy = with_turn(&turns, wait, || 1).await;
        assert!(matches!(busy, Err(AccountError::Busy)), "{busy:?}");
        drop(held);
        assert_eq!(with_turn(&turns, wait, || 2).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once_and_runs_nothing() {
        let turns = HashingTurns::new(1);
        // Every place in the line taken (one hashing, the rest waiting).
        let line = turns
            .queue
            .try_acquire_many(1 + QUEUE_PER_TURN as u32)
            .unwrap();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let refused = with_turn(&turns, HASHING_WAIT, move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst)
        })
        .await;
        assert!(matches!(refused, Err(AccountError::Busy)), "{refused:?}");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        drop(line);
        assert!(with_turn(&turns, HASHING_WAIT, || ()).await.is_ok());
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
