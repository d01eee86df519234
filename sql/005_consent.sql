-- Subject consent. A record is stored as given (its canonical protobuf,
-- which holds the subject's pseudonym, never the raw identifier) with the
-- columns queries filter on. Records are never rewritten: a withdrawal sets
-- withdrawn_at (all purposes) or adds a row to consent_withdrawals (one).
CREATE TABLE consents (
    id           text PRIMARY KEY CHECK (id ~ '^cr-[0-9a-f]{16}$'),
    dataset      text NOT NULL REFERENCES datasets (id),
    subject      bytea NOT NULL CHECK (length(subject) = 16),
    purposes     text[] NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz,
    given_at     timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz,
    record       bytea NOT NULL,
    record_hash  bytea NOT NULL CHECK (length(record_hash) = 32)
);
CREATE INDEX consents_subject ON consents (dataset, subject);
CREATE INDEX consents_live ON consents (dataset) WHERE withdrawn_at IS NULL;

CREATE TABLE consent_withdrawals (
    consent      text NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
    purpose      text NOT NULL,
    withdrawn_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consent, purpose)
);

-- Rows (and emptied chunks) erased from a batch at a subject's request: the
-- receipt keeps the counts it was stored with; the vault's check and the
-- dataset's row count subtract these.
ALTER TABLE batches ADD COLUMN erased_rows bigint NOT NULL DEFAULT 0,
                    ADD COLUMN erased_chunks integer NOT NULL DEFAULT 0;
