-- The agency vault: customer records sealed on the agency's desks (AEAD under a vault key the
-- platform never sees), the desks' vault public keys, and the vault key of each epoch wrapped
-- (HPKE) for each approved desk and for the agency's recovery key.

-- One row per agency that created its vault (`agency-client vault init`).
CREATE TABLE vaults (
    agency_id BIGINT PRIMARY KEY REFERENCES agencies (id),
    epoch BIGINT NOT NULL, -- current key epoch, from 1
    rotation_required BOOLEAN NOT NULL DEFAULT FALSE, -- a desk lost access since the last rotation
    recovery_public_key TEXT NOT NULL, -- X25519, base64
    recovery_verifier TEXT NOT NULL, -- SHA-256 (hex) of the proof derived from the recovery key
    sequence BIGINT NOT NULL DEFAULT 0, -- last change sequence handed out to a record
    created_at BIGINT NOT NULL
);

-- A desk (certificate lineage) of an agency and its vault public key.
CREATE TABLE vault_desks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    desk TEXT NOT NULL,
    public_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'approved', 'removed')),
    registered_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    UNIQUE (agency_id, desk)
);

-- The vault key of an epoch, wrapped for one holder: a desk (its lineage) or 'recovery'.
CREATE TABLE vault_keys (
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    epoch BIGINT NOT NULL,
    holder TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    PRIMARY KEY (agency_id, epoch, holder)
);

ALTER TABLE vault_records ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vault_records ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
CREATE INDEX vault_records_sequence ON vault_records (agency_id, sequence);
