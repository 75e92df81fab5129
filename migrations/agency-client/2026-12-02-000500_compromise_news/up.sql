-- Compromise is news: the desk reads the platform's certificate events (their own sequence), and
-- judges a signature made with a key later reported compromised by when this desk first held it.

-- Position in the certificate-event feed (`GET /api/v1/changes/certificates`).
ALTER TABLE identity ADD COLUMN certificate_cursor BIGINT NOT NULL DEFAULT 0;

-- Since when a compromised certificate's key may have been in other hands (none: always).
ALTER TABLE certificates ADD COLUMN compromised_since BIGINT;

-- When this desk first held the listing's current signature. A signature held before a key's
-- compromise date was made before it, whatever the signed dates say. Rows pulled before this
-- column existed were held at least since they were last checked.
ALTER TABLE shared_listings ADD COLUMN signature_first_seen_at BIGINT;
UPDATE shared_listings SET signature_first_seen_at = signature_checked_at;

-- The certificate whose key signed the version of an own listing the platform holds, so a desk
-- enrolled again after a key compromise knows what to sign anew.
ALTER TABLE own_listings ADD COLUMN signed_serial TEXT;
-- Published before this was recorded: signed with the desk's current certificate or an older
-- one of the same desk; the current one is the best guess (signing anew twice is harmless).
UPDATE own_listings SET signed_serial = (SELECT serial FROM identity WHERE id = 1)
WHERE published_version IS NOT NULL;
