-- The transactional outbox: every email is a row written in the transaction of the event that
-- causes it, rendered then, and sent later by the delivery worker (at least once; a stable
-- Message-ID lets receivers drop a repeat).
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,                   -- e.g. one closing reminder per offer and admin
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,                     -- a worker holds the row until then
    claim_token     TEXT,                          -- which claim holds it (outcomes check it)
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Non-essential email (closing reminders) can be turned off; transactional email always goes.
ALTER TABLE users ADD COLUMN closing_reminders BOOLEAN NOT NULL DEFAULT TRUE;
