-- The agency desk's own database. Times are Unix milliseconds.

-- This desk's identity on the platform: exactly one row once enrolled.
CREATE TABLE identity (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    agency_id BIGINT NOT NULL,
    -- Leaf certificate then issuing CA, PEM.
    chain_pem TEXT NOT NULL,
    -- PKCS#8 "ENCRYPTED PRIVATE KEY" PEM; the passphrase is never stored.
    key_pem TEXT NOT NULL,
    root_pem TEXT NOT NULL,
    -- SHA-256 fingerprint of the root, as given at enrolment (AB:CD:...).
    root_fingerprint TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    -- Last change-feed sequence applied to shared_listings.
    feed_cursor BIGINT NOT NULL DEFAULT 0,
    enrolled_at BIGINT NOT NULL
);

-- Platform endpoints in the order they are tried.
CREATE TABLE endpoints (
    position INTEGER PRIMARY KEY NOT NULL,
    url TEXT NOT NULL UNIQUE
);

-- The agency's own listings: drafts and what was published.
CREATE TABLE own_listings (
    listing_key TEXT PRIMARY KEY NOT NULL,
    -- ListingDocument JSON (RESO names).
    document TEXT NOT NULL,
    -- Local changes not yet handed to the outbox.
    dirty BOOLEAN NOT NULL DEFAULT 1,
    withdrawn BOOLEAN NOT NULL DEFAULT 0,
    published_version BIGINT,
    -- Why the platform refused the last attempt, if it did.
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Pending publishes and withdrawals, sent strictly in id order.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    listing_key TEXT NOT NULL,
    -- 'publish' or 'withdraw'.
    action TEXT NOT NULL,
    -- ListingDocument JSON for 'publish' (signed when sent, with the key current then).
    document TEXT,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- Everyone's listings as pulled from the change feed (only those still on the platform).
CREATE TABLE shared_listings (
    office_key TEXT NOT NULL,
    listing_key TEXT NOT NULL,
    office_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    -- Facts for a fast first cut in search; the document decides.
    transaction_type TEXT NOT NULL,
    city_norm TEXT NOT NULL,
    price BIGINT NOT NULL,
    document TEXT NOT NULL,
    signature TEXT,
    certificate_serial TEXT,
    PRIMARY KEY (office_key, listing_key)
);
CREATE INDEX shared_listings_city ON shared_listings (city_norm, price);

-- Owners (linked to listings) and tenants/buyers (with wishes).
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- 'owner' or 'tenant'.
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '',
    -- SearchCriteria JSON in normal form (tenants).
    wishes TEXT,
    -- Own listing keys, a JSON array (owners).
    listing_keys TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A listing that fits a tenant's wishes.
CREATE TABLE hints (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    office_key TEXT NOT NULL,
    listing_key TEXT NOT NULL,
    -- 'open' or 'unsuitable' (never hinted again).
    state TEXT NOT NULL DEFAULT 'open',
    created_at BIGINT NOT NULL,
    UNIQUE (customer_id, office_key, listing_key)
);
CREATE INDEX hints_listing ON hints (office_key, listing_key);

-- Past local searches, to run again.
CREATE TABLE saved_queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    criteria TEXT NOT NULL UNIQUE,
    summary TEXT NOT NULL,
    run_count INTEGER NOT NULL DEFAULT 1,
    last_result_count INTEGER NOT NULL DEFAULT 0,
    last_run_at BIGINT NOT NULL
);
