ALTER TABLE own_listings DROP COLUMN signed_serial;
ALTER TABLE shared_listings DROP COLUMN signature_first_seen_at;
ALTER TABLE certificates DROP COLUMN compromised_since;
ALTER TABLE identity DROP COLUMN certificate_cursor;
