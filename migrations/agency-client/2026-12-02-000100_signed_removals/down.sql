ALTER TABLE shared_listings DROP COLUMN removal_refused;
