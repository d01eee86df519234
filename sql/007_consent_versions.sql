-- Consent versions. Every transaction that changes a dataset's consent
-- records bumps the dataset's version (the row lock also orders those
-- transactions) and stamps the rows it writes with it, so a process that
-- keeps the set a query filters on in memory checks one row per query and
-- reloads only the subjects changed since its version. An erasure deletes
-- records and leaves no stamp behind: it moves full_since instead, and every
-- cache older than that reloads in full.
CREATE TABLE consent_versions (
    dataset    text PRIMARY KEY REFERENCES datasets (id),
    version    bigint NOT NULL,
    full_since bigint NOT NULL DEFAULT 0
);
ALTER TABLE consents ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE consent_withdrawals ADD COLUMN version bigint NOT NULL DEFAULT 0;
CREATE INDEX consents_version ON consents (dataset, version);
CREATE INDEX consent_withdrawals_version ON consent_withdrawals (version);
