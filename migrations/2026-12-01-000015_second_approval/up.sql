-- Two people for public money: a fund may require a second, different funder admin to confirm
-- an approval whose commitment is at or above a threshold (0: every approval; NULL: none). The
-- first approval holds the commitment in the ledger (fund -> the application's commitment
-- account) as a request awaiting confirmation; the second admin confirms (the application is
-- approved with it) or declines (the hold returns to the fund).
ALTER TABLE funds ADD COLUMN second_approval_threshold_pence BIGINT CHECK (second_approval_threshold_pence >= 0);
CREATE TABLE commitment_requests (
    id TEXT PRIMARY KEY NOT NULL,
    application_id TEXT NOT NULL REFERENCES match_applications (id),
    commitment_pence BIGINT NOT NULL CHECK (commitment_pence > 0),
    requested_by TEXT NOT NULL REFERENCES users (id),
    requested_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('awaiting', 'confirmed', 'declined', 'released')),
    resolved_by TEXT REFERENCES users (id),
    resolved_at TIMESTAMP,
    reason TEXT
);
-- At most one request awaits per application.
CREATE UNIQUE INDEX commitment_requests_awaiting ON commitment_requests (application_id) WHERE state = 'awaiting';
CREATE INDEX commitment_requests_application ON commitment_requests (application_id, requested_at);
