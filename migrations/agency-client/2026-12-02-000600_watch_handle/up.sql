-- The opaque label a watched tenant's saved search has on the platform (`tenant-` and 8 random
-- base32 characters): the platform and the agency's alert emails see only this, the desk maps it
-- back to the tenant. Kept across unwatch, so watching again uses the same label.
ALTER TABLE customers ADD COLUMN watch_handle TEXT;
