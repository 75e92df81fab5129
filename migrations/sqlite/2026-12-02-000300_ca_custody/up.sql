-- The CA's own certificates, so a database is never served by another CA: the root and every
-- issuing CA (the active one and those retired by a rollover, kept until their certificates
-- expire). The keys stay in DATA_DIR/ca; only certificates are here.
CREATE TABLE ca_certificates (
    fingerprint TEXT PRIMARY KEY, -- SHA-256 of the DER, lowercase hex
    role TEXT NOT NULL CHECK (role IN ('root', 'issuing')),
    status TEXT NOT NULL CHECK (status IN ('active', 'retired', 'revoked')),
    subject TEXT NOT NULL,
    serial TEXT NOT NULL, -- lowercase hex
    key_id TEXT NOT NULL, -- subject key identifier, lowercase hex (names the CA in download URLs)
    pem TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    exported_at BIGINT, -- root: when its key was last exported (removing it needs an export)
    retired_at BIGINT,
    revoked_at BIGINT,
    revocation_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ca_certificates_one_root ON ca_certificates (role) WHERE role = 'root';
CREATE UNIQUE INDEX ca_certificates_one_active_issuing ON ca_certificates (role)
    WHERE role = 'issuing' AND status = 'active';

-- The current CRL of each CA (an issuing CA's over agency and server certificates, the root's
-- over issuing CAs), shared by every node: rebuilt when what it lists changed or past half its
-- life, numbered from the `crl_number` counter so numbers only go up, across nodes too.
CREATE TABLE ca_crls (
    issuer_fingerprint TEXT PRIMARY KEY REFERENCES ca_certificates (fingerprint),
    crl_number BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    revoked_digest TEXT NOT NULL, -- SHA-256 over the entries listed, to notice a change
    pem TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- CRL numbers used to be the Unix second; the counter starts there so they keep going up.
INSERT INTO counters (name, value) VALUES ('crl_number', CAST(strftime('%s', 'now') AS BIGINT));
