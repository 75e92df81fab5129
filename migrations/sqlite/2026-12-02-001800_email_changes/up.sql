-- A signed-in user's request to change their address: the new address waits here until the
-- link sent to it is confirmed (only the SHA-256 of the link's token is stored). Rows go with
-- the account, and a confirmed or expired request keeps no address (new_email is emptied).
CREATE TABLE email_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    new_email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_changes_user ON email_changes (user_id);
