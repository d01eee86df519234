-- The vault: datasets, their wrapped keys, deposit receipts and sealed
-- column chunks. Nothing here is a deposited value: chunk ciphertexts are
-- XChaCha20-Poly1305 under a data key (DEK) that exists in PostgreSQL only
-- wrapped by the key-encryption key (KEK), which never enters the database.
CREATE TABLE datasets (
    id            text PRIMARY KEY CHECK (id ~ '^ds-[0-9a-f]{16}$'),
    holder        text NOT NULL REFERENCES orgs (name),
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    personal_data boolean NOT NULL,
    columns       jsonb NOT NULL,         -- the schema: names, types, roles, measure bounds
    chunk_rows    integer NOT NULL CHECK (chunk_rows BETWEEN 1 AND 1048576),
    key_version   integer NOT NULL DEFAULT 1,
    schema_version integer NOT NULL DEFAULT 1, -- bumped when the columns are replaced
    state         text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'WITHDRAWN')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    withdrawn_at  timestamptz
);
CREATE UNIQUE INDEX datasets_holder_name ON datasets (holder, name) WHERE state = 'ACTIVE';

-- Wrapped keys: kind 'dek' (versioned data keys) or 'subject' (the keyed
-- pseudonym function's key, version 1). wrapped = nonce || ciphertext under
-- the KEK whose id is kek_id. Deleted on withdrawal (crypto-shredding).
CREATE TABLE dataset_keys (
    dataset    text NOT NULL REFERENCES datasets (id),
    kind       text NOT NULL CHECK (kind IN ('dek', 'subject')),
    version    integer NOT NULL CHECK (version >= 1),
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, kind, version)
);

-- One row per stored batch: its receipt.
CREATE TABLE batches (
    dataset     text NOT NULL REFERENCES datasets (id),
    batch_id    text NOT NULL,
    seq         bigserial,
    rows        bigint NOT NULL CHECK (rows > 0),
    chunks      integer NOT NULL,
    sha256      bytea NOT NULL CHECK (length(sha256) = 32),
    key_version integer NOT NULL,
    ledger_idx  bigint NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, batch_id)
);
CREATE INDEX batches_seq ON batches (dataset, seq);

-- A chunk: up to chunk_rows rows of one batch. Its id is random (chosen by
-- fiduciad before sealing) and bound into every ciphertext's associated data.
CREATE TABLE chunks (
    id          bytea PRIMARY KEY CHECK (length(id) = 16),
    dataset     text NOT NULL REFERENCES datasets (id),
    batch_id    text NOT NULL,
    ordinal     integer NOT NULL,         -- position within the batch
    rows        integer NOT NULL CHECK (rows > 0),
    key_version integer NOT NULL,
    FOREIGN KEY (dataset, batch_id) REFERENCES batches (dataset, batch_id)
);
CREATE INDEX chunks_dataset ON chunks (dataset, batch_id, ordinal);

-- One sealed column of one chunk: nonce (24 bytes) || ciphertext || tag.
-- Random-looking bytes do not compress: store them out of line, uncompressed.
CREATE TABLE chunk_columns (
    chunk   bytea NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    col     smallint NOT NULL,
    sealed  bytea NOT NULL,
    PRIMARY KEY (chunk, col)
);
ALTER TABLE chunk_columns ALTER COLUMN sealed SET STORAGE EXTERNAL;
