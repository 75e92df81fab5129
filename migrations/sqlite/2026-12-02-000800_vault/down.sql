DROP INDEX vault_records_sequence;
ALTER TABLE vault_records DROP COLUMN sequence;
ALTER TABLE vault_records DROP COLUMN epoch;
DROP TABLE vault_keys;
DROP TABLE vault_desks;
DROP TABLE vaults;
