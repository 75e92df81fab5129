DELETE FROM listing_events WHERE kind = 'resigned';
CREATE TABLE listing_events_old (
    seq BIGINT PRIMARY KEY,
    listing_id BIGINT NOT NULL REFERENCES listings (id),
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    listing_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'status_changed', 'withdrawn', 'taken_down')),
    version BIGINT NOT NULL,
    at BIGINT NOT NULL
);
INSERT INTO listing_events_old (seq, listing_id, agency_id, listing_key, kind, version, at)
    SELECT seq, listing_id, agency_id, listing_key, kind, version, at FROM listing_events;
DROP TABLE listing_events;
ALTER TABLE listing_events_old RENAME TO listing_events;
DROP TABLE listing_takedowns;
