-- Erasure reaches files as well as rows.
-- `campaigns.directory`: where a plan wrote the campaign's files, so an erasure can take the
-- person out of them. `erased_cards`: the keyed hash of each erased card with the day, so a
-- lookup of the card says it was erased (it links to nothing else). `erasures_pending`: the
-- pseudonymous keys whose history is still to be cut from the lake and the model files;
-- each row is deleted once that is done, so a crash midway is finished by the next writer.
ALTER TABLE campaigns ADD COLUMN directory TEXT;

CREATE TABLE erased_cards (
    card_hash TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
);

CREATE TABLE erasures_pending (
    customer_key TEXT PRIMARY KEY,
    erased_at    TEXT NOT NULL
);
