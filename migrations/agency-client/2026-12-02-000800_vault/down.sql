DROP TABLE vault_conflicts;
DROP TABLE vault_records;
DROP TABLE vault_membership;
ALTER TABLE customers DROP COLUMN notes;
