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
-- certificate of the same agency). SQLite cannot alter a CHECK, so the table is rebuilt; nothing
-- refers to it.
CREATE TABLE listing_events_new (
    seq BIGINT PRIMARY KEY,
    listing_id BIGINT NOT NULL REFERENCES listings (id),
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    listing_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'status_changed', 'withdrawn', 'taken_down', 'resigned')),
    version BIGINT NOT NULL,
    at BIGINT NOT NULL
);
INSERT INTO listing_events_new (seq, listing_id, agency_id, listing_key, kind, version, at)
    SELECT seq, listing_id, agency_id, listing_key, kind, version, at FROM listing_events;
DROP TABLE listing_events;
ALTER TABLE listing_events_new RENAME TO listing_events;
