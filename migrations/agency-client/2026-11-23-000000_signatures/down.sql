ALTER TABLE saved_queries DROP COLUMN last_remote_total;
DROP TABLE certificates;
ALTER TABLE shared_listings DROP COLUMN signature_checked_at;
ALTER TABLE shared_listings DROP COLUMN signature_problem;
ALTER TABLE shared_listings DROP COLUMN signature_state;
