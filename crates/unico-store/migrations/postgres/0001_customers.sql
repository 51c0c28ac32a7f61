-- Unico operational store, PostgreSQL. Same tables as the SQLite schema; integers are BIGINT
-- so both backends decode them the same way.
CREATE TABLE customers (
    id            BIGSERIAL PRIMARY KEY,
    token         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    wrapped_key   BYTEA,
    pii           BYTEA,
    email_hash    TEXT,
    phone_hash    TEXT,
    tax_code_hash TEXT,
    birth_block   TEXT,
    name_block    TEXT,
    merged_into   BIGINT REFERENCES customers(id),
    erased_at     TEXT
);
CREATE INDEX customers_email ON customers(email_hash);
CREATE INDEX customers_phone ON customers(phone_hash);
CREATE INDEX customers_tax_code ON customers(tax_code_hash);
CREATE INDEX customers_merged_into ON customers(merged_into);

CREATE TABLE cards (
    card_hash          TEXT PRIMARY KEY,
    customer_id        BIGINT NOT NULL REFERENCES customers(id),
    origin_customer_id BIGINT NOT NULL REFERENCES customers(id),
    customer_key       TEXT NOT NULL,
    card_sealed        BYTEA NOT NULL,
    added_at           TEXT NOT NULL
);
CREATE INDEX cards_customer ON cards(customer_id);

CREATE TABLE consents (
    id             BIGSERIAL PRIMARY KEY,
    customer_id    BIGINT NOT NULL REFERENCES customers(id),
    purpose        TEXT NOT NULL,
    granted        BIGINT NOT NULL,
    policy_version TEXT NOT NULL,
    at             TEXT NOT NULL,
    source         TEXT NOT NULL
);
CREATE INDEX consents_customer ON consents(customer_id, purpose, id);

CREATE TABLE merges (
    id          BIGSERIAL PRIMARY KEY,
    survivor_id BIGINT NOT NULL REFERENCES customers(id),
    merged_id   BIGINT NOT NULL REFERENCES customers(id),
    score       DOUBLE PRECISION NOT NULL,
    evidence    TEXT NOT NULL,
    at          TEXT NOT NULL,
    undone_at   TEXT
);
CREATE INDEX merges_pair ON merges(survivor_id, merged_id);

CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    customer_id BIGINT,
    details     TEXT NOT NULL
);
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
