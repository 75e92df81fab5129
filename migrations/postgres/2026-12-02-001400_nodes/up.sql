-- Several nodes on one database (issue 16): the secrets every node needs, kept here so a node
-- with an empty data directory works, and the leases that let one node at a time run each
-- periodic job.

-- A secret shared by every node, by name: `mail.unsubscribe_key` (base64 of the 32-byte key
-- that signs unsubscribe links) and `ca/<file>` (the CA directory's files exactly as on disk:
-- certificates, and keys encrypted with PLATFORM_CA_PASSPHRASE when one is configured).
-- The first node to start writes them; every node then writes its data directory's copy from
-- these rows.
CREATE TABLE platform_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Which node runs a periodic job (saved-search expiry, certificate expiry notices, CRL
-- refresh) until when. A node takes a lease that has run out, or renews its own.
CREATE TABLE cluster_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
