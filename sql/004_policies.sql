-- Policies: every version of the operator baseline (scope 'baseline') and of
-- each dataset's policy (scope = dataset id), immutable and content-hashed.
-- A withdrawal is a version too (withdrawn, empty document). The version in
-- force is a scope's highest one, unless it is a withdrawal.
CREATE TABLE policies (
    scope      text NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    document   text NOT NULL,
    sha256     bytea NOT NULL CHECK (length(sha256) = 32),
    withdrawn  boolean NOT NULL DEFAULT false,
    author     text NOT NULL,
    ledger_idx bigint NOT NULL DEFAULT -1,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, version)
);
