-- Rate-limit counters shared by every node: one row per key (`<action>:<client|account>:<value>`),
-- counting hits since window_start. A hit is one statement (an upsert that adds one and returns
-- the count), so parallel requests cannot each see the count before the others' hits.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);

-- Keys of the website shared by every node (the key that signs anonymous CSRF cookies), created
-- by whichever node needs one first.
CREATE TABLE site_keys (
    name TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
