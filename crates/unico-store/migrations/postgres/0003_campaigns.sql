-- Campaigns planned by `unico plan`: the offers the app shows and the tills redeem, and
-- every eligible customer's arm (treated or holdout), the basis of uplift measurement.
-- Erasing a customer deletes their offers and memberships.
CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT NOT NULL,
    seed        BIGINT NOT NULL,
    policy      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE offers (
    code                               TEXT PRIMARY KEY,
    campaign_id                        TEXT NOT NULL REFERENCES campaigns(id),
    customer_key                       TEXT NOT NULL,
    rank                               BIGINT NOT NULL,
    sku                                TEXT NOT NULL,
    kind                               TEXT NOT NULL,
    percent_off                        BIGINT NOT NULL,
    discount_cents                     BIGINT NOT NULL,
    valid_from                         TEXT NOT NULL,
    valid_to                           TEXT NOT NULL,
    p_redeem                           DOUBLE PRECISION NOT NULL,
    expected_cost_cents                BIGINT NOT NULL,
    expected_incremental_margin_cents  BIGINT NOT NULL,
    personal                           BIGINT NOT NULL,
    reason                             TEXT NOT NULL,
    p0                                 DOUBLE PRECISION NOT NULL,
    affinity                           DOUBLE PRECISION NOT NULL,
    band                               BIGINT NOT NULL,
    redeemed_at                        TEXT
);
CREATE INDEX offers_customer ON offers(customer_key, valid_from);

CREATE TABLE campaign_members (
    campaign_id   TEXT NOT NULL REFERENCES campaigns(id),
    customer_key  TEXT NOT NULL,
    status        TEXT NOT NULL,
    segment       TEXT NOT NULL,
    store_id      TEXT,
    PRIMARY KEY (campaign_id, customer_key)
);
