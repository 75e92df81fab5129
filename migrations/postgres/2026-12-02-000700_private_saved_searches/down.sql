DELETE FROM saved_search_log WHERE saved_search_id NOT IN (SELECT id FROM saved_searches);
ALTER TABLE saved_search_log ADD CONSTRAINT saved_search_log_saved_search_id_fkey
    FOREIGN KEY (saved_search_id) REFERENCES saved_searches (id);
