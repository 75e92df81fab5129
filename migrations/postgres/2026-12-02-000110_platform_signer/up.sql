-- The platform's own document-signing certificate (it signs take-down statements) is registered
-- like every certificate the issuing CA signs, with its own kind.
ALTER TABLE certificates DROP CONSTRAINT certificates_kind_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_kind_check
    CHECK (kind IN ('client', 'server', 'signer'));
