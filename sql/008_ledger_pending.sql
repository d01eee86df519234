-- Group commit for the ledger (server/ledger_seq.c). An action's transaction
-- writes its entry here, with a MAC under a key derived from the ledger
-- signing key, and commits without taking any lock; a sequencer (one at a
-- time, under ledger_head's row lock) moves committed entries into
-- ledger_entries and the tree in batches, in id order, and deletes them in
-- the same transaction. pending_id keeps the link, so that the rows that
-- recorded an action's pending id (batches, policies) find its index.
-- The table holds what the last few milliseconds committed, but it churns:
-- fiduciad VACUUMs it every second while the sequencer is moving rows, as
-- autovacuum's pass (once a minute) leaves dead rows to pile up in between.
CREATE TABLE ledger_pending (
    id         bigserial PRIMARY KEY,
    entry      bytea NOT NULL,
    mac        bytea NOT NULL CHECK (length(mac) = 32),
    actor_org  text NOT NULL,
    target_org text NOT NULL DEFAULT '',
    action     text NOT NULL,
    dataset    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE ledger_entries ADD COLUMN pending_id bigint;
CREATE UNIQUE INDEX ledger_entries_pending ON ledger_entries (pending_id);

-- From here on, leaves (subtrees of size 1) are not stored in ledger_subtrees:
-- their hash is ledger_entries.leaf_hash, which proofs read.

-- Pending rows whose MAC did not verify: written by something other than a
-- fiduciad of this deployment. Never placed in the log; kept for the
-- investigation.
CREATE TABLE ledger_refused (
    id         bigint PRIMARY KEY,
    entry      bytea NOT NULL,
    mac        bytea NOT NULL,
    actor_org  text NOT NULL,
    created_at timestamptz NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE batches ADD COLUMN ledger_pending bigint;
ALTER TABLE policies ADD COLUMN ledger_pending bigint;
