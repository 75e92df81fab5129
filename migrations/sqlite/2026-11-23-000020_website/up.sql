-- The buyer website: sessions, search history, sign-in attempts (rate limiting) and one-time
-- email tokens (verification, password reset). Conventions as in the foundation migration.

-- A visitor's session; only the SHA-256 of the cookie's random id is kept, so a copy of the
-- database does not let anyone sign in as a user.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY, -- SHA-256 of the session id, lowercase hex
    user_id BIGINT REFERENCES users (id),
    csrf_token TEXT NOT NULL, -- the synchronizer token every POST form carries
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- A signed-in user's searches, newest last; the site keeps the last few per user.
CREATE TABLE search_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    query TEXT NOT NULL, -- the search form's query string (criteria and sort)
    summary TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX search_history_user ON search_history (user_id, id);

-- Failed sign-ins, keyed by account (`account:<email>`) and by client address (`addr:<ip>`).
CREATE TABLE sign_in_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_key ON sign_in_attempts (key, at);

-- One-time tokens sent by email; only their SHA-256 is kept.
CREATE TABLE email_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);

-- Website search (see docs/benchmarks.md). By city: a page of the newest or cheapest listings
-- of a city, and a city's district, are read in index order and counted from the index (the
-- foundation's listings_search serves city + sale/rent by price). Without a city: newest-first
-- and price-ordered pages of all active listings, and sale/rent by price.
CREATE INDEX listings_active_city_newest ON listings (status, city_key, created_at, id);
CREATE INDEX listings_active_city_price ON listings (status, city_key, price, id);
CREATE INDEX listings_active_city_district ON listings (status, city_key, district_key, price);
CREATE INDEX listings_active_newest ON listings (status, created_at, id);
CREATE INDEX listings_active_price ON listings (status, price, id);
CREATE INDEX listings_active_type_price ON listings (status, transaction_type, price);
