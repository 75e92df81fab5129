-- The operator console (issue 15): operators apart from website users, their sessions, and
-- the settings a running server records for the operator commands.

-- An operator. The password is set through a one-time link (`platform admin create EMAIL`);
-- the TOTP secret is set up at the first sign-in and required at every sign-in after.
CREATE TABLE operators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE, -- lowercased
    password_hash TEXT, -- argon2id; NULL until the set-password link is used
    setup_token_hash TEXT UNIQUE, -- SHA-256 of the one-time set-password link's token
    setup_expires_at BIGINT,
    totp_secret TEXT, -- base32 RFC 6238 secret; NULL until set up
    totp_confirmed_at BIGINT, -- the first code was checked
    totp_last_step BIGINT, -- the last accepted 30 s step: a code is never accepted twice
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Console sessions (a website session never works here). Only the SHA-256 of the cookie's id
-- is kept. `stage` is `password` after the password (the second factor still to come) and
-- `full` after the TOTP code.
CREATE TABLE operator_sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id BIGINT REFERENCES operators (id),
    stage TEXT NOT NULL CHECK (stage IN ('anonymous', 'password', 'full')),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- What the running server uses (its effective public addresses), recorded at each start so
-- operator commands run with only the data directory or database URL act with them.
CREATE TABLE platform_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A website user disabled by an operator: cannot sign in, their sessions end.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
