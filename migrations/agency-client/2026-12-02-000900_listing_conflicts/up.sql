-- A change of an own listing the platform refused because another desk of the agency changed the
-- listing first (412 version_mismatch). This desk's side stays in own_listings (nothing is lost);
-- this row keeps the platform's side, as signed, until staff choose (`listing resolve`).
CREATE TABLE listing_conflicts (
    listing_key TEXT PRIMARY KEY NOT NULL,
    -- What this desk tried to send: publish or withdraw.
    action TEXT NOT NULL,
    -- The version this desk's change was made on (NULL: a first publish).
    base_version BIGINT,
    -- The platform's current version (NULL: it has no listing under this key).
    theirs_version BIGINT,
    theirs_status TEXT,
    -- The platform's listing object exactly as signed, its signature (JSON) and certificate.
    theirs_document TEXT,
    theirs_signature TEXT,
    theirs_certificate_serial TEXT,
    -- This desk's check of that signature: verified, invalid or unchecked, and why.
    theirs_signature_state TEXT NOT NULL,
    theirs_signature_problem TEXT,
    detected_at BIGINT NOT NULL
);
