-- Queries (issue 7): privacy budgets and released answers.
--
-- A budget is kept per requesting organisation, dataset and period (pure
-- epsilon, sequential composition), in millionths of epsilon. A query's
-- debit is one UPDATE whose WHERE keeps spent <= total, in the same
-- transaction as its ledger entry: two queries racing for the last of a
-- budget (in one fiduciad or two) serialise on the row, and the second
-- finds too little left.
CREATE TABLE budgets (
    org          text NOT NULL REFERENCES orgs (name),
    dataset      text NOT NULL REFERENCES datasets (id),
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL CHECK (period_end > period_start),
    total_micro  bigint NOT NULL CHECK (total_micro >= 0),
    spent_micro  bigint NOT NULL DEFAULT 0 CHECK (spent_micro >= 0),
    queries      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org, dataset, period_start)
);

-- Answers released under a budget, so that the same question (canonical
-- form, hashed) asked again by the same organisation in the same period,
-- over the same data, gets the same answer and spends nothing: averaging
-- repeated noisy answers gains nothing. The answer is what was released
-- (noisy aggregates), never a deposited value. data_version names the
-- data it was computed on (consent version and deposits).
CREATE TABLE query_answers (
    org            text NOT NULL REFERENCES orgs (name),
    dataset        text NOT NULL REFERENCES datasets (id),
    question       bytea NOT NULL CHECK (length(question) = 32),
    period_start   timestamptz NOT NULL,
    data_version   text NOT NULL,
    answer         bytea NOT NULL,
    ledger_pending bigint NOT NULL,  -- its QUERY entry (ledger_entries.pending_id)
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, dataset, question, period_start)
);
