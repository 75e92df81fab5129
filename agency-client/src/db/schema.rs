//! diesel's view of the desk database; `migrations/agency-client/` is the source of truth.
#![allow(missing_docs)]

diesel::table! {
    identity (id) {
        id -> Integer,
        agency_id -> BigInt,
        chain_pem -> Text,
        key_pem -> Text,
        root_pem -> Text,
        root_fingerprint -> Text,
        serial -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        feed_cursor -> BigInt,
        enrolled_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revocation_note -> Nullable<Text>,
        certificate_cursor -> BigInt,
    }
}

diesel::table! {
    endpoints (position) {
        position -> Integer,
        url -> Text,
    }
}

diesel::table! {
    own_listings (listing_key) {
        listing_key -> Text,
        document -> Text,
        dirty -> Bool,
        withdrawn -> Bool,
        published_version -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        signed_serial -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Integer,
        listing_key -> Text,
        action -> Text,
        document -> Nullable<Text>,
        created_at -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    shared_listings (office_key, listing_key) {
        office_key -> Text,
        listing_key -> Text,
        office_name -> Text,
        version -> BigInt,
        status -> Text,
        sequence -> BigInt,
        transaction_type -> Text,
        city_norm -> Text,
        price -> BigInt,
        document -> Text,
        signature -> Nullable<Text>,
        certificate_serial -> Nullable<Text>,
        signature_state -> Text,
        signature_problem -> Nullable<Text>,
        signature_checked_at -> Nullable<BigInt>,
        removal_refused -> Nullable<Text>,
        signature_first_seen_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        agency_id -> Text,
        chain_pem -> Text,
        status -> Text,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Text>,
        fetched_at -> BigInt,
        compromised_since -> Nullable<BigInt>,
    }
}

diesel::table! {
    customers (id) {
        id -> Integer,
        kind -> Text,
        name -> Text,
        contact -> Text,
        wishes -> Nullable<Text>,
        listing_keys -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        watch_id -> Nullable<BigInt>,
        watch_handle -> Nullable<Text>,
        notes -> Text,
    }
}

diesel::table! {
    vault_membership (id) {
        id -> Integer,
        public_key -> Text,
        secret_key_pem -> Text,
        record_cursor -> BigInt,
        last_sync_at -> Nullable<BigInt>,
        last_sync_note -> Nullable<Text>,
    }
}

diesel::table! {
    vault_records (record_id) {
        record_id -> Text,
        customer_id -> Nullable<Integer>,
        version -> BigInt,
        epoch -> BigInt,
        synced_hash -> Nullable<Text>,
        deleted -> Bool,
    }
}

diesel::table! {
    vault_conflicts (record_id) {
        record_id -> Text,
        their_version -> BigInt,
        their_epoch -> BigInt,
        their_deleted -> Bool,
        their_content -> Nullable<Text>,
        detected_at -> BigInt,
    }
}

diesel::table! {
    hints (id) {
        id -> Integer,
        customer_id -> Integer,
        office_key -> Text,
        listing_key -> Text,
        state -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    saved_queries (id) {
        id -> Integer,
        criteria -> Text,
        summary -> Text,
        run_count -> Integer,
        last_result_count -> Integer,
        last_run_at -> BigInt,
        last_remote_total -> Nullable<Integer>,
    }
}

diesel::table! {
    listing_conflicts (listing_key) {
        listing_key -> Text,
        action -> Text,
        base_version -> Nullable<BigInt>,
        theirs_version -> Nullable<BigInt>,
        theirs_status -> Nullable<Text>,
        theirs_document -> Nullable<Text>,
        theirs_signature -> Nullable<Text>,
        theirs_certificate_serial -> Nullable<Text>,
        theirs_signature_state -> Text,
        theirs_signature_problem -> Nullable<Text>,
        detected_at -> BigInt,
    }
}

diesel::table! {
    vault_dirty (customer_id) {
        customer_id -> Integer,
        mark -> BigInt,
    }
}

diesel::table! {
    vault_unwatch (watch_id) {
        watch_id -> BigInt,
        queued_at -> BigInt,
    }
}

diesel::joinable!(hints -> customers (customer_id));
diesel::joinable!(vault_records -> customers (customer_id));
diesel::joinable!(vault_conflicts -> vault_records (record_id));

diesel::allow_tables_to_appear_in_same_query!(
    identity,
    endpoints,
    own_listings,
    outbox,
    shared_listings,
    customers,
    hints,
    saved_queries,
    certificates,
    vault_membership,
    vault_records,
    vault_conflicts,
    vault_dirty,
    vault_unwatch,
);

diesel::table! {
    /// Platform enquiries already stored as customers (`enquiries.rs`).
    received_enquiries (enquiry_id) {
        enquiry_id -> BigInt,
        customer_id -> Nullable<Integer>,
        received_at -> BigInt,
    }
}
