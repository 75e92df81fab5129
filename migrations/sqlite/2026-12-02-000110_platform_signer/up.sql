-- The platform's own document-signing certificate (it signs take-down statements) is registered
-- like every certificate the issuing CA signs, with its own kind. SQLite cannot alter a CHECK, so
-- the table is rebuilt (the procedure of SQLite's ALTER TABLE documentation: foreign keys off,
-- which SQLite allows only outside a transaction, so this migration runs its own; listings refer
-- to certificates by serial, which the copy keeps).
--
-- NOTE for later migrations: every column and index of `certificates` must be listed here.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE certificates_new (
    serial TEXT PRIMARY KEY, -- lowercase hex
    agency_id BIGINT REFERENCES agencies (id),
    kind TEXT NOT NULL CHECK (kind IN ('client', 'server', 'signer')),
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
INSERT INTO certificates_new (serial, agency_id, kind, subject, fingerprint, pem, not_before,
        not_after, status, revoked_at, revocation_reason, renewed_from, expiry_notice_sent_at,
        created_at)
    SELECT serial, agency_id, kind, subject, fingerprint, pem, not_before, not_after, status,
        revoked_at, revocation_reason, renewed_from, expiry_notice_sent_at, created_at
    FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_new RENAME TO certificates;
CREATE INDEX certificates_agency ON certificates (agency_id);
COMMIT;
PRAGMA foreign_keys = ON;
