-- Messages: what an outbox message is for. 'marketing' messages (offers) need the marketing and
-- the channel's consents when queued and again when sent, and count against the frequency cap;
-- 'service' messages (codes, orders, answers) go to whoever asked for them.
ALTER TABLE outbox ADD COLUMN purpose TEXT NOT NULL DEFAULT 'service';
