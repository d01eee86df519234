-- The activity report reads the ledger by time range.
CREATE INDEX ledger_entries_time ON ledger_entries (created_at);
