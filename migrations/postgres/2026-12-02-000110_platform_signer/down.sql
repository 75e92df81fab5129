DELETE FROM certificates WHERE kind = 'signer';
ALTER TABLE certificates DROP CONSTRAINT certificates_kind_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_kind_check
    CHECK (kind IN ('client', 'server'));
