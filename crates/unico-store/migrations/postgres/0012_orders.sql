-- Click-and-collect: pickup slots per store with their capacity (taken counted in the row,
-- so a place is claimed by one conditional update), and orders: who, where, when, the
-- lines with the prices and offers of the moment they were placed (JSON), the picking
-- marks, the state, and when the order reached the lake as a receipt.
CREATE TABLE pickup_slots (
    id          BIGSERIAL PRIMARY KEY,
    store_id    TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    capacity    BIGINT NOT NULL,
    taken       BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    UNIQUE (store_id, starts_at)
);

CREATE TABLE orders (
    id               BIGSERIAL PRIMARY KEY,
    customer_id      BIGINT NOT NULL REFERENCES customers(id),
    store_id         TEXT NOT NULL,
    slot_id          BIGINT NOT NULL REFERENCES pickup_slots(id),
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL,
    placed_at        TEXT NOT NULL,
    day              TEXT NOT NULL,
    lines            TEXT NOT NULL,
    priced           TEXT NOT NULL,
    total_cents      BIGINT NOT NULL,
    updated_at       TEXT NOT NULL,
    collected_at     TEXT,
    in_lake_at       TEXT,
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX orders_slot ON orders(slot_id, state);
CREATE INDEX orders_store ON orders(store_id, state);
CREATE INDEX orders_to_lake ON orders(state, in_lake_at);
