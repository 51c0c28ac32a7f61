-- Unico operational store, SQLite. Personal data is only ever stored sealed (pii, card_sealed);
-- *_hash and *_block columns are keyed HMACs for lookups and duplicate detection.
CREATE TABLE customers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    wrapped_key   BLOB,
    pii           BLOB,
    email_hash    TEXT,
    phone_hash    TEXT,
    tax_code_hash TEXT,
    birth_block   TEXT,
    name_block    TEXT,
    merged_into   INTEGER REFERENCES customers(id),
    erased_at     TEXT
);
CREATE INDEX customers_email ON customers(email_hash);
CREATE INDEX customers_phone ON customers(phone_hash);
CREATE INDEX customers_tax_code ON customers(tax_code_hash);
CREATE INDEX customers_merged_into ON customers(merged_into);

CREATE TABLE cards (
    card_hash          TEXT PRIMARY KEY,
    customer_id        INTEGER NOT NULL REFERENCES customers(id),
    origin_customer_id INTEGER NOT NULL REFERENCES customers(id),
    customer_key       TEXT NOT NULL,
    card_sealed        BLOB NOT NULL,
    added_at           TEXT NOT NULL
);
CREATE INDEX cards_customer ON cards(customer_id);

CREATE TABLE consents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id    INTEGER NOT NULL REFERENCES customers(id),
    purpose        TEXT NOT NULL,
    granted        INTEGER NOT NULL,
    policy_version TEXT NOT NULL,
    at             TEXT NOT NULL,
    source         TEXT NOT NULL
);
CREATE INDEX consents_customer ON consents(customer_id, purpose, id);

CREATE TABLE merges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    survivor_id INTEGER NOT NULL REFERENCES customers(id),
    merged_id   INTEGER NOT NULL REFERENCES customers(id),
    score       REAL NOT NULL,
    evidence    TEXT NOT NULL,
    at          TEXT NOT NULL,
    undone_at   TEXT
);
CREATE INDEX merges_pair ON merges(survivor_id, merged_id);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    customer_id INTEGER,
    details     TEXT NOT NULL
);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
