-- What this desk learned about its own certificate being revoked (the platform refused it with
-- `certificate_revoked`), so `cert` and the window say so even while offline. Cleared by the
-- next enrolment, which replaces the identity row.
ALTER TABLE identity ADD COLUMN revoked_at BIGINT;
ALTER TABLE identity ADD COLUMN revocation_note TEXT;
