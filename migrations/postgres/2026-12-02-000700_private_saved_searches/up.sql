-- An agency's saved search is deleted for real (it is a tenant's wishes); the change log keeps
-- only "search N was deleted", which the match index needs, so its entries no longer reference a
-- row that must exist.
ALTER TABLE saved_search_log DROP CONSTRAINT IF EXISTS saved_search_log_saved_search_id_fkey;
