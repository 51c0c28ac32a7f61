-- Webhooks: the retailer's systems subscribe to events (each with a signing secret kept
-- wrapped by the master key, like a customer's data key); each event is written to the outbox
-- in the transaction of the change it announces (a transactional outbox), one message per
-- subscription, then delivered signed, retried with backoff, dead-lettered after a limit.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    token       TEXT NOT NULL,
    secret      BLOB NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    removed_at  TEXT
);

ALTER TABLE outbox ADD COLUMN webhook_id BIGINT REFERENCES webhooks(id);
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
