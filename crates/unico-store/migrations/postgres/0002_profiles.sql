-- (PostgreSQL: integers are BIGINT, as i64 everywhere.)
-- What the server reads about a cardholder, published by `unico model build`: one profile
-- per lake key that has a card here, and the products each is due to buy again.
-- Erasing a customer deletes their rows; keys without a card are never published.
CREATE TABLE profiles (
    customer_key          TEXT PRIMARY KEY,
    as_of                 TEXT NOT NULL,
    segment               TEXT NOT NULL,
    r_score               BIGINT NOT NULL,
    f_score               BIGINT NOT NULL,
    m_score               BIGINT NOT NULL,
    p_alive               DOUBLE PRECISION NOT NULL,
    expected_purchases    DOUBLE PRECISION NOT NULL,
    horizon_days          BIGINT NOT NULL,
    clv_cents             BIGINT NOT NULL,
    average_receipt_cents BIGINT NOT NULL,
    discount_share        DOUBLE PRECISION NOT NULL,
    preferred_store_id    TEXT,
    preferred_channel     TEXT NOT NULL,
    preferred_weekday     TEXT NOT NULL,
    preferred_hour        BIGINT NOT NULL,
    last_purchase_date    TEXT NOT NULL
);

CREATE TABLE due_items (
    customer_key   TEXT NOT NULL,
    sku            TEXT NOT NULL,
    category       TEXT NOT NULL,
    purchase_days  BIGINT NOT NULL,
    cycle_days     DOUBLE PRECISION NOT NULL,
    next_due_date  TEXT NOT NULL,
    PRIMARY KEY (customer_key, sku)
);
