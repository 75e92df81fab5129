-- Composed emails. A message's recipient, listings (the notification rows pointing at it) and
-- Message-ID are fixed when it is composed; sending it again after a crash sends these same bytes.
-- A sender holds a message by a short lease (lease_by, lease_until) that it renews while working.
CREATE TABLE mail_messages (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    raw BYTEA NOT NULL, -- the RFC 5322 message as sent; emptied once sent
    secret BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_messages_due ON mail_messages (status, next_attempt_at);
ALTER TABLE notifications ADD COLUMN mail_message_id BIGINT REFERENCES mail_messages (id);
CREATE INDEX notifications_mail_message ON notifications (mail_message_id);
