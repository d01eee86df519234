-- The transparency ledger (RFC 6962 Merkle tree over LedgerEntry leaves).
-- Entries and perfect-subtree hashes are written once and never updated;
-- ledger_head is the sequencer (appends lock its row) and the pointer to the
-- latest signed checkpoint (replaced by compare-and-swap, never backwards).
CREATE TABLE ledger_entries (
    idx        bigint PRIMARY KEY CHECK (idx >= 0),
    entry      bytea NOT NULL,
    leaf_hash  bytea NOT NULL CHECK (length(leaf_hash) = 32),
    actor_org  text NOT NULL,
    target_org text NOT NULL DEFAULT '',
    action     text NOT NULL,
    dataset    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_actor ON ledger_entries (actor_org, idx);
CREATE INDEX ledger_entries_dataset ON ledger_entries (dataset, idx);

-- Hash of leaves [start, start + size), size a power of two, start % size = 0.
CREATE TABLE ledger_subtrees (
    start bigint NOT NULL,
    size  bigint NOT NULL,
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (start, size)
);

CREATE TABLE ledger_head (
    id              int PRIMARY KEY CHECK (id = 1),
    size            bigint NOT NULL,
    root            bytea NOT NULL,
    frontier        bytea NOT NULL,  -- the popcount(size) perfect subtrees of [0, size)
    checkpoint_size bigint NOT NULL DEFAULT -1,
    checkpoint      text NOT NULL DEFAULT ''
);
INSERT INTO ledger_head (id, size, root, frontier) VALUES (1, 0, sha256(''), '');
