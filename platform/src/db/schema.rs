//! diesel's view of the tables; the migrations under `migrations/` are the source of truth and
//! this file follows them (one definition serves both backends: see the type conventions in
//! [`crate::db`]).

diesel::table! {
    agencies (id) {
        id -> BigInt,
        name -> Text,
        licence -> Text,
        email -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    enrolment_tokens (id) {
        id -> BigInt,
        agency_id -> BigInt,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        certificate_serial -> Nullable<Text>,
        voided_at -> Nullable<BigInt>,
        desk_name -> Nullable<Text>,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        agency_id -> Nullable<BigInt>,
        kind -> Text,
        subject -> Text,
        fingerprint -> Text,
        pem -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        status -> Text,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Text>,
        renewed_from -> Nullable<Text>,
        expiry_notice_sent_at -> Nullable<BigInt>,
        created_at -> BigInt,
        lineage -> Nullable<Text>,
        key_sha256 -> Nullable<Text>,
        first_used_at -> Nullable<BigInt>,
        compromised_since -> Nullable<BigInt>,
    }
}

diesel::table! {
    listings (id) {
        id -> BigInt,
        agency_id -> BigInt,
        listing_key -> Text,
        version -> BigInt,
        status -> Text,
        transaction_type -> Text,
        property_type -> Text,
        city -> Text,
        city_key -> Text,
        district -> Nullable<Text>,
        district_key -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        address -> Nullable<Text>,
        price -> BigInt,
        currency -> Text,
        living_area -> Nullable<Double>,
        rooms -> Nullable<Integer>,
        bedrooms -> Nullable<Integer>,
        bathrooms -> Nullable<Integer>,
        title -> Text,
        description -> Text,
        media -> Text,
        search_text -> Text,
        modified_at -> BigInt,
        document -> Text,
        signature -> Text,
        signature_alg -> Text,
        cert_serial -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        taken_down_at -> Nullable<BigInt>,
        takedown_reason -> Nullable<Text>,
        held_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    listing_takedowns (listing_id) {
        listing_id -> BigInt,
        statement -> Text,
        signature -> Text,
        signature_alg -> Text,
        cert_serial -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    listing_events (seq) {
        seq -> BigInt,
        listing_id -> BigInt,
        agency_id -> BigInt,
        listing_key -> Text,
        kind -> Text,
        version -> BigInt,
        at -> BigInt,
    }
}

diesel::table! {
    certificate_events (seq) {
        seq -> BigInt,
        kind -> Text,
        serial -> Text,
        fingerprint -> Text,
        agency_id -> Nullable<BigInt>,
        reason -> Text,
        revoked_at -> BigInt,
        compromised_since -> Nullable<BigInt>,
        at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        email_verified_at -> Nullable<BigInt>,
        notify_mode -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_seen_at -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    saved_searches (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        agency_id -> Nullable<BigInt>,
        name -> Text,
        criteria -> Text,
        created_at -> BigInt,
        renewed_at -> BigInt,
        expires_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        expiry_notice_sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    dismissed_listings (user_id, listing_id) {
        user_id -> BigInt,
        listing_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    saved_search_log (seq) {
        seq -> BigInt,
        saved_search_id -> BigInt,
        op -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        idempotency_key -> Text,
        kind -> Text,
        recipient -> Text,
        user_id -> Nullable<BigInt>,
        agency_id -> Nullable<BigInt>,
        saved_search_id -> Nullable<BigInt>,
        listing_id -> Nullable<BigInt>,
        listing_version -> Nullable<BigInt>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
        mail_message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    mail_messages (id) {
        id -> BigInt,
        message_id -> Text,
        sender -> Text,
        recipient -> Text,
        raw -> Binary,
        secret -> Bool,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_by -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    vault_records (id) {
        id -> BigInt,
        agency_id -> BigInt,
        record_id -> Text,
        version -> BigInt,
        ciphertext -> Binary,
        deleted -> Bool,
        updated_at -> BigInt,
        epoch -> BigInt,
        sequence -> BigInt,
    }
}

diesel::table! {
    vaults (agency_id) {
        agency_id -> BigInt,
        epoch -> BigInt,
        rotation_required -> Bool,
        recovery_public_key -> Text,
        recovery_verifier -> Text,
        sequence -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    vault_desks (id) {
        id -> BigInt,
        agency_id -> BigInt,
        desk -> Text,
        public_key -> Text,
        state -> Text,
        registered_at -> BigInt,
        changed_at -> BigInt,
    }
}

diesel::table! {
    vault_keys (agency_id, epoch, holder) {
        agency_id -> BigInt,
        epoch -> BigInt,
        holder -> Text,
        wrapped -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        subject -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    ca_certificates (fingerprint) {
        fingerprint -> Text,
        role -> Text,
        status -> Text,
        subject -> Text,
        serial -> Text,
        key_id -> Text,
        pem -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        exported_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    ca_crls (issuer_fingerprint) {
        issuer_fingerprint -> Text,
        crl_number -> BigInt,
        this_update -> BigInt,
        next_update -> BigInt,
        revoked_digest -> Text,
        pem -> Text,
        updated_at -> BigInt,
    }
}

// The website's tables (migration `2026-11-23-000020_website`).

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

// The operator console's tables (migration `2026-12-02-001000_operator_console`).

diesel::table! {
    /// Operators of the console, apart from website users.
    operators (id) {
        /// Id.
        id -> BigInt,
        /// Lowercased email.
        email -> Text,
        /// argon2id hash; NULL until the set-password link is used.
        password_hash -> Nullable<Text>,
        /// SHA-256 of the one-time set-password token.
        setup_token_hash -> Nullable<Text>,
        /// When the set-password token stops working (ms).
        setup_expires_at -> Nullable<BigInt>,
        /// Base32 TOTP secret.
        totp_secret -> Nullable<Text>,
        /// When the first code was checked (ms).
        totp_confirmed_at -> Nullable<BigInt>,
        /// The last accepted TOTP step.
        totp_last_step -> Nullable<BigInt>,
        /// Disabled at (ms).
        disabled_at -> Nullable<BigInt>,
        /// Created (ms).
        created_at -> BigInt,
        /// Last change (ms).
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Console sessions.
    operator_sessions (id_hash) {
        /// SHA-256 of the session id.
        id_hash -> Text,
        /// The operator, once the password was checked.
        operator_id -> Nullable<BigInt>,
        /// `anonymous`, `password` or `full`.
        stage -> Text,
        /// CSRF synchronizer token.
        csrf_token -> Text,
        /// Created (ms).
        created_at -> BigInt,
        /// Expires (ms).
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Settings the running server recorded at start (its effective public addresses).
    platform_settings (name) {
        /// The setting's name.
        name -> Text,
        /// Its value.
        value -> Text,
        /// Recorded at (ms).
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// A listing's price at each version where it changed (the listing page's price history).
    listing_prices (listing_id, version) {
        /// The listing.
        listing_id -> BigInt,
        /// The listing version that set this price.
        version -> BigInt,
        /// Price, whole currency units.
        price -> BigInt,
        /// ISO 4217 code.
        currency -> Text,
        /// When the platform took that version (ms).
        at -> BigInt,
    }
}

diesel::joinable!(enrolment_tokens -> agencies (agency_id));
diesel::joinable!(certificates -> agencies (agency_id));
diesel::joinable!(listings -> agencies (agency_id));
diesel::joinable!(listing_events -> listings (listing_id));
diesel::joinable!(listing_takedowns -> listings (listing_id));
diesel::joinable!(saved_searches -> users (user_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(notifications -> mail_messages (mail_message_id));
diesel::joinable!(saved_search_log -> saved_searches (saved_search_id));
diesel::joinable!(vault_records -> agencies (agency_id));

diesel::allow_tables_to_appear_in_same_query!(
    agencies,
    enrolment_tokens,
    certificates,
    listings,
    counters,
    listing_events,
    certificate_events,
    listing_takedowns,
    users,
    saved_searches,
    dismissed_listings,
    saved_search_log,
    notifications,
    mail_messages,
    vault_records,
    audit_log,
    ca_certificates,
    ca_crls,
    web_sessions,
    search_history,
    sign_in_attempts,
    email_tokens,
    operators,
    operator_sessions,
    platform_settings,
);

diesel::table! {
    /// Secrets every node needs (the unsubscribe key, the CA directory's files), by name.
    platform_secrets (name) {
        /// `mail.unsubscribe_key` or `ca/<file>`.
        name -> Text,
        /// Its value (base64 or PEM).
        value -> Text,
        /// Written at (ms).
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Which node runs a periodic job, until when.
    cluster_leases (job) {
        /// The job's name.
        job -> Text,
        /// The node holding the lease.
        holder -> Text,
        /// When the lease runs out (ms).
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Rate-limit counters shared by every node ([`crate::accounts::limiter`]).
    rate_limits (key) {
        /// `<action>:client:<address>` or `<action>:account:<digest of the email>`.
        key -> Text,
        /// When the current window began (ms).
        window_start -> BigInt,
        /// Hits since `window_start`.
        hits -> BigInt,
    }
}

diesel::table! {
    /// Keys of the website shared by every node (the anonymous CSRF cookie's signing key).
    site_keys (name) {
        /// What the key is for (`csrf`).
        name -> Text,
        /// 32 random bytes.
        secret -> Binary,
        /// Created (ms).
        created_at -> BigInt,
    }
}

diesel::table! {
    /// A signed-in user's pending change of address, confirmed from the new address.
    email_changes (id) {
        /// Id.
        id -> BigInt,
        /// The user.
        user_id -> BigInt,
        /// The address asked for (emptied once confirmed or replaced).
        new_email -> Text,
        /// SHA-256 of the link's token, lowercase hex.
        token_hash -> Text,
        /// Created (ms).
        created_at -> BigInt,
        /// Expires (ms).
        expires_at -> BigInt,
        /// Used (ms).
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Buyers' enquiries to agencies about listings ([`crate::enquiries`]). The personal fields
    /// are erased when the agency's desk acknowledges the enquiry.
    enquiries (id) {
        /// Id.
        id -> BigInt,
        /// The listing asked about.
        listing_id -> BigInt,
        /// The listing's agency (the recipient).
        agency_id -> BigInt,
        /// The signed-in buyer, if any.
        user_id -> Nullable<BigInt>,
        /// The buyer's name (erased at delivery).
        name -> Nullable<Text>,
        /// The buyer's email (erased at delivery).
        email -> Nullable<Text>,
        /// The buyer's phone (erased at delivery).
        phone -> Nullable<Text>,
        /// The message (erased at delivery unless a signed-in buyer wrote it).
        message -> Nullable<Text>,
        /// Sent (ms).
        created_at -> BigInt,
        /// Acknowledged by the agency's desk (ms).
        delivered_at -> Nullable<BigInt>,
    }
}
