-- Ad audiences: the platform hashes of erased customers' contacts, kept for the suppression
-- list an audience export writes (the ad platforms hold them from earlier uploads and must
-- be told to drop them). Only SHA-256 digests of normalised values: no contact in clear.
CREATE TABLE ad_suppressions (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    reason               TEXT NOT NULL,
    email_sha256         TEXT,
    phone_plus_sha256    TEXT,
    phone_digits_sha256  TEXT,
    at                   TEXT NOT NULL
);
