-- The platform saved search that watches a tenant's wishes (`customer watch`), so removing the
-- customer can delete it too and watching again after a rename updates the same one.
ALTER TABLE customers ADD COLUMN watch_id BIGINT;
