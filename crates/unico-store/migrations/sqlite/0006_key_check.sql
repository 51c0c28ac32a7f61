-- The check that the master key opening the store is the one its personal data was sealed
-- with: a keyed hash of a fixed text, written by the first key and compared at every open.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
