-- The agency vault on this desk: its X25519 vault key pair (the private key encrypted with the
-- key passphrase, PKCS#8 like the certificate's key), the vault record of each customer with
-- the version this desk's copy is based on, and conflicts kept until staff choose a side.

-- Staff's notes about a customer (synced through the vault like the rest of the customer).
ALTER TABLE customers ADD COLUMN notes TEXT NOT NULL DEFAULT '';

CREATE TABLE vault_membership (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    public_key TEXT NOT NULL, -- X25519, base64
    secret_key_pem TEXT NOT NULL, -- "ENCRYPTED PRIVATE KEY" (PKCS#8, scrypt + AES-256-CBC)
    record_cursor BIGINT NOT NULL DEFAULT 0, -- last record sequence pulled
    last_sync_at BIGINT,
    last_sync_note TEXT
);

-- One per customer record in the vault. customer_id NULL: the customer was removed here (a
-- tombstone to push, unless `deleted`) or the record is a tombstone.
CREATE TABLE vault_records (
    record_id TEXT PRIMARY KEY NOT NULL,
    customer_id INTEGER UNIQUE REFERENCES customers (id) ON DELETE SET NULL,
    version BIGINT NOT NULL DEFAULT 0, -- the platform's version this copy is based on (0: never sent)
    epoch BIGINT NOT NULL DEFAULT 0, -- the key epoch of that version
    synced_hash TEXT, -- SHA-256 of the content last synced; differs from now: a change to send
    deleted BOOLEAN NOT NULL DEFAULT FALSE -- the tombstone is synced
);

-- A record changed on another desk while it also changed here: both sides kept until staff
-- choose (`vault resolve ID --keep mine|theirs`).
CREATE TABLE vault_conflicts (
    record_id TEXT PRIMARY KEY NOT NULL REFERENCES vault_records (record_id),
    their_version BIGINT NOT NULL,
    their_epoch BIGINT NOT NULL,
    their_deleted BOOLEAN NOT NULL,
    their_content TEXT, -- the other side (JSON), NULL when they deleted it
    detected_at BIGINT NOT NULL
);
