ALTER TABLE identity DROP COLUMN revocation_note;
ALTER TABLE identity DROP COLUMN revoked_at;
