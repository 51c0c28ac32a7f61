-- KPIs, goals and measurement (issue 7).
--
-- Offers get the app's activation and the till's redemption with the discount it gave;
-- every campaign member records the kind of offers they get or, held out, would have got
-- (personal with the profiling consent, generic without), so each kind is measured against
-- its own part of the holdout.
ALTER TABLE offers ADD COLUMN activated_at TEXT;
ALTER TABLE offers ADD COLUMN redeemed_discount_cents BIGINT;
ALTER TABLE campaign_members ADD COLUMN offer_type TEXT NOT NULL DEFAULT 'personal';

-- Survey answers, imported or given in the app: CSAT (1-5) and NPS (0-10). Re-importing an
-- answer (same id) adds nothing. Erasing a customer unlinks their answers and drops comments.
CREATE TABLE survey_answers (
    id            TEXT PRIMARY KEY,
    answered_at   TEXT NOT NULL,
    answered_on   TEXT NOT NULL,
    question      TEXT NOT NULL CHECK (question IN ('csat', 'nps')),
    score         INTEGER NOT NULL,
    customer_key  TEXT,
    store_id      TEXT,
    channel       TEXT,
    comment       TEXT,
    imported_at   TEXT NOT NULL
);
CREATE INDEX survey_answers_day ON survey_answers(answered_on);

-- Goals on KPIs, with the state they were last found in.
CREATE TABLE goals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kpi           TEXT NOT NULL,
    target        REAL NOT NULL,
    deadline      TEXT NOT NULL,
    scope_kind    TEXT NOT NULL,
    scope_value   TEXT,
    review        TEXT NOT NULL,
    notify        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    state         TEXT,
    checked_on    TEXT
);

-- Messages waiting to be sent (e-mail, webhook): written in the same transaction as the
-- change they announce, delivered by the server.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at       TEXT
);
