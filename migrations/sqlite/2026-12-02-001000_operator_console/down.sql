ALTER TABLE users DROP COLUMN disabled_at;
DROP TABLE platform_settings;
DROP TABLE operator_sessions;
DROP TABLE operators;
