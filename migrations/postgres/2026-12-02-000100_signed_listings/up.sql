-- Signed removals and re-signing (issue 18).

-- An operator's take-down is a statement signed by the platform's document-signing key; it is
-- kept beside the listing and served in the change feed, so a desk removes a listing only on a
-- signature it can check.
CREATE TABLE listing_takedowns (
    listing_id BIGINT PRIMARY KEY REFERENCES listings (id),
    statement TEXT NOT NULL, -- the TakedownStatement in RFC 8785 form: exactly the signed bytes
    signature TEXT NOT NULL, -- base64 of the detached signature over `statement`
    signature_alg TEXT NOT NULL,
    cert_serial TEXT NOT NULL REFERENCES certificates (serial), -- the platform's signing certificate
    created_at BIGINT NOT NULL
);

-- A new change-feed event kind: 'resigned' (the same content signed again with another
-- certificate of the same agency).
ALTER TABLE listing_events DROP CONSTRAINT listing_events_kind_check;
ALTER TABLE listing_events ADD CONSTRAINT listing_events_kind_check
    CHECK (kind IN ('created', 'updated', 'status_changed', 'withdrawn', 'taken_down', 'resigned'));
