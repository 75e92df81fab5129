-- Checking each agency's signature on listings pulled from the platform.

-- The outcome of the last check of a shared listing: 'verified', 'invalid' (signature_problem
-- says why) or 'unchecked' (pulled before checks existed, or the signing certificate could not be
-- fetched; checked again at the next sync). Only verified listings raise hints.
ALTER TABLE shared_listings ADD COLUMN signature_state TEXT NOT NULL DEFAULT 'unchecked';
ALTER TABLE shared_listings ADD COLUMN signature_problem TEXT;
ALTER TABLE shared_listings ADD COLUMN signature_checked_at BIGINT;

-- Agency certificates fetched by serial (GET /api/v1/certificates/{serial}) to check signatures.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,
    -- The agency named in the certificate (its SAN URI), as text like ListOfficeKey.
    agency_id TEXT NOT NULL,
    -- The certificate then the issuing CA, PEM, as the platform served them.
    chain_pem TEXT NOT NULL,
    -- 'valid' or 'revoked', as the platform said at fetched_at.
    status TEXT NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT,
    fetched_at BIGINT NOT NULL
);

-- How many listings the platform found the last time a past search ran there.
ALTER TABLE saved_queries ADD COLUMN last_remote_total INTEGER;
