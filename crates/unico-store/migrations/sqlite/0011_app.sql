-- The shoppers' app: accounts (an e-mail's keyed hash, an argon2id password hash, the
-- customer they are, or the card waiting for its code), their sessions (a token's SHA-256),
-- link codes (SHA-256, expiring, with failed attempts counted), the retailer's privacy
-- policies by version, the chain's promotions (the flyer), tickets with a store and their
-- messages (sealed with the customer's data key, so an erasure shreds them).
CREATE TABLE app_accounts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    email_hash         TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    customer_id        INTEGER REFERENCES customers(id),
    pending_card_hash  TEXT,
    policy_version     TEXT NOT NULL,
    store_id           TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX app_accounts_customer ON app_accounts(customer_id);

CREATE TABLE app_sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES app_accounts(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX app_sessions_account ON app_sessions(account_id);

CREATE TABLE app_codes (
    account_id  INTEGER PRIMARY KEY REFERENCES app_accounts(id),
    card_hash   TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    consents    TEXT NOT NULL
);

CREATE TABLE privacy_policies (
    version       TEXT PRIMARY KEY,
    body          TEXT NOT NULL,
    published_at  TEXT NOT NULL
);

CREATE TABLE promotions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sku          TEXT NOT NULL,
    title        TEXT NOT NULL,
    price_cents  BIGINT NOT NULL,
    was_cents    BIGINT,
    valid_from   TEXT NOT NULL,
    valid_to     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (sku, valid_from)
);
CREATE INDEX promotions_valid ON promotions(valid_to);

CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    store_id     TEXT NOT NULL,
    subject      BLOB NOT NULL,
    state        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX tickets_customer ON tickets(customer_id);
CREATE INDEX tickets_store ON tickets(store_id, state);

CREATE TABLE ticket_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    author     TEXT NOT NULL,
    body       BLOB NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);
