-- Trust (issue 18): a revocation follows the certificate's family, compromise is news on the
-- change feed, listings signed by a compromised key are held out of search and alerts, and a new
-- enrolment token voids the agency's older unused ones. Conventions as in the foundation.

-- The register binds whole certificates and knows their families:
-- * lineage: serial of the enrolment certificate this one descends from by renewals (its own
--   serial for an enrolment): one lineage is one desk; NULL for server certificates;
-- * key_sha256: SHA-256 of the certificate's SubjectPublicKeyInfo (DER), lowercase hex, so a
--   renewal with the same key is refused and a key compromise reaches every certificate of the
--   key (rows older than this migration get it from their PEM when the platform starts);
-- * first_used_at: the first request made with it (a renewal not yet used can be replaced);
-- * compromised_since: for key_compromise, the time from which the key is known to be in other
--   hands (the CRL's invalidity date); NULL means since ever.
ALTER TABLE certificates ADD COLUMN lineage TEXT;
ALTER TABLE certificates ADD COLUMN key_sha256 TEXT;
ALTER TABLE certificates ADD COLUMN first_used_at BIGINT;
ALTER TABLE certificates ADD COLUMN compromised_since BIGINT;
CREATE INDEX certificates_renewed_from ON certificates (renewed_from);
CREATE INDEX certificates_lineage ON certificates (lineage, created_at);
CREATE INDEX certificates_key ON certificates (key_sha256);

WITH RECURSIVE family (serial, root) AS (
    SELECT serial, serial FROM certificates WHERE kind = 'client' AND renewed_from IS NULL
    UNION ALL
    SELECT c.serial, f.root FROM certificates c JOIN family f ON c.renewed_from = f.serial
)
UPDATE certificates
SET lineage = (SELECT root FROM family WHERE family.serial = certificates.serial)
WHERE kind = 'client';
-- Certificates whose parent is missing from the register start a lineage of their own.
UPDATE certificates SET lineage = serial WHERE kind = 'client' AND lineage IS NULL;

-- Certificate events: the second sequence of the change feed, numbered like listing_events by
-- a counter row locked in the revoking transaction (commit order). One row per revoked
-- certificate and per raised reason, with the certificate's state at that moment.
CREATE TABLE certificate_events (
    seq BIGINT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('revoked', 'reason_changed')),
    serial TEXT NOT NULL REFERENCES certificates (serial),
    fingerprint TEXT NOT NULL, -- SHA-256 of the certificate's DER, lowercase hex
    agency_id BIGINT REFERENCES agencies (id),
    reason TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    compromised_since BIGINT,
    at BIGINT NOT NULL
);
-- Revocations made before this migration are news too: numbered in the order they happened.
INSERT INTO certificate_events
    (seq, kind, serial, fingerprint, agency_id, reason, revoked_at, compromised_since, at)
SELECT ROW_NUMBER() OVER (ORDER BY COALESCE(revoked_at, created_at), serial), 'revoked', serial,
       fingerprint, agency_id, COALESCE(revocation_reason, 'unspecified'),
       COALESCE(revoked_at, created_at), NULL, COALESCE(revoked_at, created_at)
FROM certificates WHERE status = 'revoked';
INSERT INTO counters (name, value) SELECT 'certificate_events', COUNT(*) FROM certificate_events;

-- Set when a key_compromise revocation covers the listing's signing certificate and the platform
-- received the listing at or after the compromise date; cleared by the next accepted publish.
-- Held listings are left out of search and alerts. The revocation finds a key's listings by
-- their signing certificate.
ALTER TABLE listings ADD COLUMN held_at BIGINT;
CREATE INDEX listings_cert_serial ON listings (cert_serial);

-- A new token voids the agency's older unused ones.
ALTER TABLE enrolment_tokens ADD COLUMN voided_at BIGINT;
UPDATE enrolment_tokens
SET voided_at = CAST(strftime('%s', 'now') AS BIGINT) * 1000
WHERE used_at IS NULL
  AND id < (SELECT MAX(t.id) FROM enrolment_tokens t
            WHERE t.agency_id = enrolment_tokens.agency_id AND t.used_at IS NULL);
