-- What the server reads about a cardholder, published by `unico model build`: one profile
-- per lake key that has a card here, and the products each is due to buy again.
-- Erasing a customer deletes their rows; keys without a card are never published.
CREATE TABLE profiles (
    customer_key          TEXT PRIMARY KEY,
    as_of                 TEXT NOT NULL,
    segment               TEXT NOT NULL,
    r_score               INTEGER NOT NULL,
    f_score               INTEGER NOT NULL,
    m_score               INTEGER NOT NULL,
    p_alive               REAL NOT NULL,
    expected_purchases    REAL NOT NULL,
    horizon_days          INTEGER NOT NULL,
    clv_cents             BIGINT NOT NULL,
    average_receipt_cents BIGINT NOT NULL,
    discount_share        REAL NOT NULL,
    preferred_store_id    TEXT,
    preferred_channel     TEXT NOT NULL,
    preferred_weekday     TEXT NOT NULL,
    preferred_hour        INTEGER NOT NULL,
    last_purchase_date    TEXT NOT NULL
);

CREATE TABLE due_items (
    customer_key   TEXT NOT NULL,
    sku            TEXT NOT NULL,
    category       TEXT NOT NULL,
    purchase_days  INTEGER NOT NULL,
    cycle_days     REAL NOT NULL,
    next_due_date  TEXT NOT NULL,
    PRIMARY KEY (customer_key, sku)
);
