-- Each run of `ledger verify` (the command or the platform admin's endpoint), kept so that
-- every instance's /metrics can say when the ledger was last checked and with what verdict.
CREATE TABLE ledger_verifications (
    id TEXT PRIMARY KEY NOT NULL,
    verified_at TIMESTAMP NOT NULL,
    balanced BOOLEAN NOT NULL,
    problems BIGINT NOT NULL CHECK (problems >= 0),
    payment_disagreements BIGINT NOT NULL CHECK (payment_disagreements >= 0),
    accounts_checked BIGINT NOT NULL,
    transfers_checked BIGINT NOT NULL
);
CREATE INDEX ledger_verifications_at ON ledger_verifications (verified_at);
