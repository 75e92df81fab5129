-- The vault's queue of changes to send: a customer changed here is marked dirty by a trigger in
-- the same transaction as the change (whatever code or statement made it), so a sync reads and
-- hashes only the customers marked, not every customer. A mark is a random number renewed at
-- every change: it is cleared (matching the mark read) when the platform acknowledged the push,
-- so a change made while a push was under way stays marked.
CREATE TABLE vault_dirty (
    customer_id INTEGER PRIMARY KEY NOT NULL,
    mark BIGINT NOT NULL
);

-- Every customer held before this migration is looked at once.
INSERT INTO vault_dirty (customer_id, mark) SELECT id, random() FROM customers;

CREATE TRIGGER vault_dirty_customer_insert AFTER INSERT ON customers BEGIN
    INSERT OR REPLACE INTO vault_dirty (customer_id, mark) VALUES (NEW.id, random());
END;

CREATE TRIGGER vault_dirty_customer_update AFTER UPDATE ON customers BEGIN
    INSERT OR REPLACE INTO vault_dirty (customer_id, mark) VALUES (NEW.id, random());
END;

CREATE TRIGGER vault_dirty_customer_delete AFTER DELETE ON customers BEGIN
    DELETE FROM vault_dirty WHERE customer_id = OLD.id;
END;

-- Listings marked unsuitable travel with the customer.
CREATE TRIGGER vault_dirty_mark_insert AFTER INSERT ON hints WHEN NEW.state = 'unsuitable' BEGIN
    INSERT OR REPLACE INTO vault_dirty (customer_id, mark) VALUES (NEW.customer_id, random());
END;

CREATE TRIGGER vault_dirty_mark_update AFTER UPDATE ON hints
WHEN NEW.state = 'unsuitable' OR OLD.state = 'unsuitable' BEGIN
    INSERT OR REPLACE INTO vault_dirty (customer_id, mark) VALUES (NEW.customer_id, random());
END;

CREATE TRIGGER vault_dirty_mark_delete AFTER DELETE ON hints WHEN OLD.state = 'unsuitable' BEGIN
    INSERT OR REPLACE INTO vault_dirty (customer_id, mark)
        SELECT id, random() FROM customers WHERE id = OLD.customer_id;
END;

-- Saved searches on the platform to delete: a watched tenant removed or unwatched on another
-- desk reaches this desk through the vault, and the next sync deletes the saved search it left
-- (a saved search the platform no longer has counts as deleted).
CREATE TABLE vault_unwatch (
    watch_id BIGINT PRIMARY KEY NOT NULL,
    queued_at BIGINT NOT NULL
);
