-- Duplicate detection in bounded memory: the database groups the blocking keys, and a merge
-- run compares only the registrations new or changed since the last one. Triggers queue
-- them, whatever wrote them (an import, the app's sign-up, an unmerge).
--
-- Every key is indexed with merged_into, so the size of a key's block of active
-- registrations is counted from the index alone (an erased registration has no keys left).
DROP INDEX customers_email;
DROP INDEX customers_phone;
DROP INDEX customers_tax_code;
CREATE INDEX customers_email ON customers(email_hash, merged_into);
CREATE INDEX customers_phone ON customers(phone_hash, merged_into);
CREATE INDEX customers_tax_code ON customers(tax_code_hash, merged_into);
CREATE INDEX customers_birth_block ON customers(birth_block, merged_into);
CREATE INDEX customers_name_block ON customers(name_block, merged_into);

CREATE TABLE dedupe_pending (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL
);

CREATE TRIGGER customers_dedupe_new AFTER INSERT ON customers
BEGIN INSERT INTO dedupe_pending (customer_id) VALUES (NEW.id); END;

CREATE TRIGGER customers_dedupe_changed AFTER UPDATE OF pii, merged_into ON customers
WHEN NEW.merged_into IS NULL AND NEW.erased_at IS NULL AND NEW.pii IS NOT NULL
BEGIN INSERT INTO dedupe_pending (customer_id) VALUES (NEW.id); END;

-- Registrations already in the store are compared at the next run.
INSERT INTO dedupe_pending (customer_id)
SELECT id FROM customers WHERE merged_into IS NULL AND erased_at IS NULL ORDER BY id;

-- Each merge run: when, at which threshold, whether it compared everything, what it did.
CREATE TABLE dedupe_runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    threshold REAL NOT NULL,
    full_run  INTEGER NOT NULL,
    pending   INTEGER NOT NULL,
    scored    INTEGER NOT NULL,
    merged    INTEGER NOT NULL
);
