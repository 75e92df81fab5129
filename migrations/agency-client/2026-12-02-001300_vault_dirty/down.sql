DROP TABLE vault_unwatch;
DROP TRIGGER vault_dirty_mark_delete;
DROP TRIGGER vault_dirty_mark_update;
DROP TRIGGER vault_dirty_mark_insert;
DROP TRIGGER vault_dirty_customer_delete;
DROP TRIGGER vault_dirty_customer_update;
DROP TRIGGER vault_dirty_customer_insert;
DROP TABLE vault_dirty;
