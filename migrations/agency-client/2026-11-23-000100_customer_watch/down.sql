ALTER TABLE customers DROP COLUMN watch_id;
