DELETE FROM listing_events WHERE kind = 'resigned';
ALTER TABLE listing_events DROP CONSTRAINT listing_events_kind_check;
ALTER TABLE listing_events ADD CONSTRAINT listing_events_kind_check
    CHECK (kind IN ('created', 'updated', 'status_changed', 'withdrawn', 'taken_down'));
DROP TABLE listing_takedowns;
