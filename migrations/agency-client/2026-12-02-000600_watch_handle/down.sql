ALTER TABLE customers DROP COLUMN watch_handle;
