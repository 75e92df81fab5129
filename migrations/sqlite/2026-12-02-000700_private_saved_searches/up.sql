-- An agency's saved search is deleted for real (it is a tenant's wishes); the change log keeps
-- only "search N was deleted", which the match index needs, so its entries no longer reference a
-- row that must exist. SQLite cannot drop a constraint: the log table is rebuilt without it.
CREATE TABLE saved_search_log_new (
    seq BIGINT PRIMARY KEY,
    saved_search_id BIGINT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    at BIGINT NOT NULL
);
INSERT INTO saved_search_log_new (seq, saved_search_id, op, at)
SELECT seq, saved_search_id, op, at FROM saved_search_log;
DROP TABLE saved_search_log;
ALTER TABLE saved_search_log_new RENAME TO saved_search_log;
