-- The first schema. Conventions (see platform/src/db/mod.rs): BIGINT ids, timestamps as BIGINT
-- milliseconds since the Unix epoch (UTC), enumerations as TEXT with CHECK, JSON as TEXT.

CREATE TABLE agencies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    licence TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'rejected', 'suspended')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One-time tokens an operator issues to a vetted agency; only their SHA-256 is kept.
CREATE TABLE enrolment_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    certificate_serial TEXT
);
CREATE INDEX enrolment_tokens_agency ON enrolment_tokens (agency_id);

-- Every certificate the issuing CA signed: agency client certificates and server certificates.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY, -- lowercase hex
    agency_id BIGINT REFERENCES agencies (id),
    kind TEXT NOT NULL CHECK (kind IN ('client', 'server')),
    subject TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE, -- SHA-256 of the DER, lowercase hex
    pem TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
    revoked_at BIGINT,
    revocation_reason TEXT,
    renewed_from TEXT,
    expiry_notice_sent_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX certificates_agency ON certificates (agency_id);

CREATE TABLE listings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    listing_key TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'under_offer', 'sold', 'rented', 'withdrawn', 'taken_down')),
    transaction_type TEXT NOT NULL CHECK (transaction_type IN ('sale', 'rent')),
    property_type TEXT NOT NULL,
    city TEXT NOT NULL,
    city_key TEXT NOT NULL, -- normalised for search and matching
    district TEXT,
    district_key TEXT,
    postal_code TEXT,
    address TEXT,
    price BIGINT NOT NULL, -- whole units of currency
    currency TEXT NOT NULL,
    living_area REAL,
    rooms INTEGER,
    bedrooms INTEGER,
    bathrooms INTEGER,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    media TEXT NOT NULL, -- JSON array of photo URLs
    search_text TEXT NOT NULL, -- normalised title, a newline, normalised description (keyword search)
    modified_at BIGINT NOT NULL, -- the agency's ModificationTimestamp
    document TEXT NOT NULL, -- the canonical JSON the agency signed
    signature TEXT NOT NULL, -- base64 of the detached signature over `document`
    signature_alg TEXT NOT NULL,
    cert_serial TEXT NOT NULL REFERENCES certificates (serial),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    taken_down_at BIGINT,
    takedown_reason TEXT,
    UNIQUE (agency_id, listing_key)
);
CREATE INDEX listings_search ON listings (status, transaction_type, city_key, price);
CREATE INDEX listings_updated ON listings (updated_at);

-- Monotonic counters, updated in the writing transaction so that numbers are handed out in commit
-- order (a reader of "everything after N" never misses a row committed late with a smaller N).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('listing_events', 0);
INSERT INTO counters (name, value) VALUES ('saved_search_log', 0);

-- The change feed agency clients pull: one row per change, numbered by `seq`.
CREATE TABLE listing_events (
    seq BIGINT PRIMARY KEY,
    listing_id BIGINT NOT NULL REFERENCES listings (id),
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    listing_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'status_changed', 'withdrawn', 'taken_down')),
    version BIGINT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE, -- lowercased
    password_hash TEXT NOT NULL,
    email_verified_at BIGINT,
    notify_mode TEXT NOT NULL DEFAULT 'instant' CHECK (notify_mode IN ('instant', 'daily', 'off')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_seen_at BIGINT
);

-- Saved searches of website users and of agencies (a tenant's wishes saved by the agency).
CREATE TABLE saved_searches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id),
    agency_id BIGINT REFERENCES agencies (id),
    name TEXT NOT NULL,
    criteria TEXT NOT NULL, -- JSON of SearchCriteria
    created_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    deleted_at BIGINT,
    expiry_notice_sent_at BIGINT,
    CHECK ((user_id IS NULL) <> (agency_id IS NULL))
);
CREATE INDEX saved_searches_user ON saved_searches (user_id);
CREATE INDEX saved_searches_agency ON saved_searches (agency_id);
CREATE INDEX saved_searches_expiry ON saved_searches (expires_at);

-- Listings a user marked "not interested": never alerted or suggested again.
CREATE TABLE dismissed_listings (
    user_id BIGINT NOT NULL REFERENCES users (id),
    listing_id BIGINT NOT NULL REFERENCES listings (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, listing_id)
);

-- Every create, change and delete of a saved search, numbered like the listing feed, so each
-- platform node keeps its in-memory match index fresh by reading what came after its last number.
CREATE TABLE saved_search_log (
    seq BIGINT PRIMARY KEY,
    saved_search_id BIGINT NOT NULL REFERENCES saved_searches (id),
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    at BIGINT NOT NULL
);

-- The outbox: every email goes through here, written in the transaction that causes it.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id),
    agency_id BIGINT REFERENCES agencies (id),
    saved_search_id BIGINT REFERENCES saved_searches (id),
    listing_id BIGINT REFERENCES listings (id),
    listing_version BIGINT,
    payload TEXT NOT NULL, -- JSON the mail template renders
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_user ON notifications (user_id);

-- Customer records of an agency, encrypted on the agency's desks; the platform cannot read them.
CREATE TABLE vault_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    record_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    ciphertext BLOB NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL,
    UNIQUE (agency_id, record_id)
);

-- Every CA and operator action, and other security-relevant events. Append-only.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL -- JSON
);
CREATE INDEX audit_log_at ON audit_log (at);
