CREATE TABLE saved_search_log_old (
    seq BIGINT PRIMARY KEY,
    saved_search_id BIGINT NOT NULL REFERENCES saved_searches (id),
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    at BIGINT NOT NULL
);
INSERT INTO saved_search_log_old (seq, saved_search_id, op, at)
SELECT seq, saved_search_id, op, at FROM saved_search_log
WHERE saved_search_id IN (SELECT id FROM saved_searches);
DROP TABLE saved_search_log;
ALTER TABLE saved_search_log_old RENAME TO saved_search_log;
