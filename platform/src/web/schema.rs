//! diesel's view of the website's own tables (migration `2026-11-23-000020_website`); kept here,
//! beside the code that uses them, rather than in [`crate::db::schema`].

diesel::table! {
    /// Sessions of website visitors, keyed by the SHA-256 of the cookie's id.
    web_sessions (id_hash) {
        /// SHA-256 of the session id, lowercase hex.
        id_hash -> Text,
        /// The signed-in user, if any.
        user_id -> Nullable<BigInt>,
        /// CSRF synchronizer token.
        csrf_token -> Text,
        /// Created (ms).
        created_at -> BigInt,
        /// Expires (ms).
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Signed-in users' searches.
    search_history (id) {
        /// Id; increases with time.
        id -> BigInt,
        /// The user.
        user_id -> BigInt,
        /// The search form's query string.
        query -> Text,
        /// Human summary.
        summary -> Text,
        /// When (ms).
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Failed sign-ins, for rate limiting.
    sign_in_attempts (id) {
        /// Id.
        id -> BigInt,
        /// `account:<email>` or `addr:<ip>`.
        key -> Text,
        /// When (ms).
        at -> BigInt,
    }
}

diesel::table! {
    /// One-time tokens sent by email.
    email_tokens (id) {
        /// Id.
        id -> BigInt,
        /// The user.
        user_id -> BigInt,
        /// `verify_email` or `password_reset`.
        purpose -> Text,
        /// SHA-256 of the token, lowercase hex.
        token_hash -> Text,
        /// Created (ms).
        created_at -> BigInt,
        /// Expires (ms).
        expires_at -> BigInt,
        /// Used (ms).
        used_at -> Nullable<BigInt>,
    }
}
