-- The tills' API: terminals (a till's token, kept as its SHA-256), receipts confirmed at a
-- till with the discounts they gave (the key of a receipt is its store, till and number: a
-- retried confirm finds it), refunds (each once by its number), every campaign's budgets
-- with what was spent of them, and a log of changes the tills' in-memory wallets follow.
CREATE TABLE terminals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    store_id    TEXT NOT NULL,
    till_id     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE pos_receipts (
    id            TEXT PRIMARY KEY,
    store_id      TEXT NOT NULL,
    till_id       TEXT NOT NULL,
    receipt_no    TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    customer_key  TEXT,
    at            TEXT NOT NULL,
    day           TEXT NOT NULL,
    state         TEXT NOT NULL,
    lines         TEXT NOT NULL,
    response      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (store_id, till_id, receipt_no)
);
CREATE INDEX pos_receipts_day ON pos_receipts(day);

CREATE TABLE pos_discounts (
    receipt_id        TEXT NOT NULL REFERENCES pos_receipts(id),
    offer_code        TEXT NOT NULL,
    campaign_id       TEXT NOT NULL,
    line_no           BIGINT NOT NULL,
    amount_cents      BIGINT NOT NULL,
    taken_back_cents  BIGINT NOT NULL DEFAULT 0,
    budgets           TEXT NOT NULL,
    PRIMARY KEY (receipt_id, offer_code, line_no)
);

CREATE TABLE pos_refunds (
    receipt_id    TEXT NOT NULL REFERENCES pos_receipts(id),
    refund_no     TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    response      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (receipt_id, refund_no)
);

-- A campaign's budgets as its policy caps them ("total", "category:Coffee", ...), with what
-- the tills gave under each; a confirm that would overspend one does not give that offer.
CREATE TABLE campaign_budgets (
    campaign_id  TEXT NOT NULL REFERENCES campaigns(id),
    name         TEXT NOT NULL,
    cap_cents    BIGINT NOT NULL,
    spent_cents  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, name)
);

-- What the tills' wallets must reload: one customer (customer_key) or everything (kind 'all'),
-- or the terminals.
CREATE TABLE pos_changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    customer_key  TEXT
);

ALTER TABLE campaigns ADD COLUMN activation_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN stores TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN min_margin REAL;
ALTER TABLE offers ADD COLUMN budgets TEXT NOT NULL DEFAULT '';
ALTER TABLE offers ADD COLUMN max_times BIGINT NOT NULL DEFAULT 1;
ALTER TABLE offers ADD COLUMN redeemed_by TEXT;
CREATE INDEX cards_customer_key ON cards(customer_key);
