-- Match only on money that exists. A receipt an admin types on an offer that holds approved
-- match money counts only when a second person confirms it: until then it waits here, and
-- moves nothing. Confirmed, it is recorded as a bank receipt (which names who confirmed it).
CREATE TABLE receipt_confirmations (
    id TEXT PRIMARY KEY NOT NULL,
    offer_id TEXT NOT NULL REFERENCES offers (id),
    pledge_id TEXT NOT NULL REFERENCES pledges (id),
    reference TEXT NOT NULL,
    amount_pence BIGINT NOT NULL CHECK (amount_pence > 0),
    received_at TIMESTAMP NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('awaiting_confirmation', 'confirmed', 'withdrawn')),
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    receipt_id TEXT REFERENCES bank_receipts (id)
);
CREATE INDEX receipt_confirmations_offer ON receipt_confirmations (offer_id, status);
CREATE INDEX receipt_confirmations_pledge ON receipt_confirmations (pledge_id, status);

-- Who confirmed a receipt typed by hand (when it needed a second person), and where an
-- imported one came from: the statement file's SHA-256 and the line in it.
ALTER TABLE bank_receipts ADD COLUMN confirmed_by TEXT REFERENCES users (id);
ALTER TABLE bank_receipts ADD COLUMN statement_sha256 TEXT;
ALTER TABLE bank_receipts ADD COLUMN statement_line BIGINT;
