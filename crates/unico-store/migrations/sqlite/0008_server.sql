-- The server: named users with a role, their sessions, long jobs, who did what in the
-- audit log, and a campaign's life (planned, published, stopped).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    store_id      TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

-- A session is known by the SHA-256 of its token: the token itself is never stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    step        TEXT NOT NULL DEFAULT '',
    done        BIGINT NOT NULL DEFAULT 0,
    total       BIGINT NOT NULL DEFAULT 0,
    request     TEXT NOT NULL,
    result      TEXT,
    error       TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_created ON jobs(created_at);

ALTER TABLE audit ADD COLUMN actor TEXT;
ALTER TABLE audit ADD COLUMN origin TEXT;

-- Campaigns stored before this migration were live as soon as planned: they stay so.
ALTER TABLE campaigns ADD COLUMN status TEXT NOT NULL DEFAULT 'published';
ALTER TABLE campaigns ADD COLUMN published_at TEXT;
ALTER TABLE campaigns ADD COLUMN stopped_at TEXT;
