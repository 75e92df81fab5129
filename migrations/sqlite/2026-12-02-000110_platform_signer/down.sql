PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DELETE FROM certificates WHERE kind = 'signer';
CREATE TABLE certificates_old (
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
INSERT INTO certificates_old (serial, agency_id, kind, subject, fingerprint, pem, not_before,
        not_after, status, revoked_at, revocation_reason, renewed_from, expiry_notice_sent_at,
        created_at)
    SELECT serial, agency_id, kind, subject, fingerprint, pem, not_before, not_after, status,
        revoked_at, revocation_reason, renewed_from, expiry_notice_sent_at, created_at
    FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_old RENAME TO certificates;
CREATE INDEX certificates_agency ON certificates (agency_id);
COMMIT;
PRAGMA foreign_keys = ON;
