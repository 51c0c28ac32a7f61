-- The shoppers' app: accounts (an e-mail's keyed hash, an argon2id password hash, the
-- customer they are, or the card waiting for its code), their sessions (a token's SHA-256),
-- link codes (SHA-256, expiring, with failed attempts counted), the retailer's privacy
-- policies by version, the chain's promotions (the flyer), tickets with a store and their
-- messages (sealed with the customer's data key, so an erasure shreds them).
CREATE TABLE app_accounts (
    id                 BIGSERIAL PRIMARY KEY,
    email_hash         TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    customer_id        BIGINT REFERENCES customers(id),
    pending_card_hash  TEXT,
    policy_version     TEXT NOT NULL,
    store_id           TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX app_accounts_customer ON app_accounts(customer_id);

CREATE TABLE app_sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES app_accounts(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX app_sessions_account ON app_sessions(account_id);

CREATE TABLE app_codes (
    account_id  BIGINT PRIMARY KEY REFERENCES app_accounts(id),
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
    id           BIGSERIAL PRIMARY KEY,
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
    id           BIGSERIAL PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    store_id     TEXT NOT NULL,
    subject      BYTEA NOT NULL,
    state        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX tickets_customer ON tickets(customer_id);
CREATE INDEX tickets_store ON tickets(store_id, state);

CREATE TABLE ticket_messages (
    id         BIGSERIAL PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets(id),
    author     TEXT NOT NULL,
    body       BYTEA NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);
