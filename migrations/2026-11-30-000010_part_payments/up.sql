-- Money as it really arrives: a bank payment may come in parts (each a receipt), a part may be
-- more than is owed (the excess is owed back), money may come for a pledge that has ended (owed
-- back too), and a statement line is applied once (its fingerprint). So a pledge has several
-- receipts, and several refunds; it records what it has received.

ALTER TABLE pledges ADD COLUMN received_pence BIGINT NOT NULL DEFAULT 0;
UPDATE pledges SET received_pence = amount_pence WHERE status IN ('paid', 'allocated', 'refunded');

CREATE TABLE bank_receipts_parts (
    id            TEXT PRIMARY KEY,
    offer_id      TEXT NOT NULL REFERENCES offers (id),
    pledge_id     TEXT NOT NULL REFERENCES pledges (id),
    reference     TEXT NOT NULL,
    amount_pence  BIGINT NOT NULL CHECK (amount_pence > 0),
    -- What went to the pledge, and what is owed back (an over-payment, or a pledge that had ended).
    applied_pence BIGINT NOT NULL CHECK (applied_pence >= 0),
    excess_pence  BIGINT NOT NULL CHECK (excess_pence >= 0),
    refund_id     TEXT,
    -- The statement line it came from (date, amount, text, balance, place among identical
    -- lines), when it came from a statement: a line is applied once.
    fingerprint   TEXT,
    received_at   TIMESTAMP NOT NULL,
    recorded_by   TEXT NOT NULL REFERENCES users (id),
    created_at    TIMESTAMP NOT NULL,
    CHECK (applied_pence + excess_pence = amount_pence)
);
INSERT INTO bank_receipts_parts (id, offer_id, pledge_id, reference, amount_pence, applied_pence, excess_pence,
                                 received_at, recorded_by, created_at)
    SELECT id, offer_id, pledge_id, reference, amount_pence, amount_pence, 0, received_at, recorded_by, created_at
    FROM bank_receipts;
DROP TABLE bank_receipts;
ALTER TABLE bank_receipts_parts RENAME TO bank_receipts;
CREATE INDEX bank_receipts_pledge ON bank_receipts (pledge_id);
CREATE UNIQUE INDEX bank_receipts_offer_fingerprint ON bank_receipts (offer_id, fingerprint);

CREATE TABLE refunds_many (
    id               TEXT PRIMARY KEY,
    pledge_id        TEXT NOT NULL REFERENCES pledges (id),
    offer_id         TEXT NOT NULL REFERENCES offers (id),
    method           TEXT NOT NULL CHECK (method IN ('card', 'bank_transfer')),
    amount_pence     BIGINT NOT NULL CHECK (amount_pence > 0),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason           TEXT NOT NULL,
    transfer_id      TEXT NOT NULL UNIQUE REFERENCES ledger_transfers (id),
    payee_name       TEXT NOT NULL,
    payee_email      TEXT NOT NULL,
    payee_reference  TEXT,
    stripe_refund_id TEXT UNIQUE,
    failure_reason   TEXT,
    check_after      TIMESTAMP NOT NULL,
    completed_at     TIMESTAMP,
    completed_by     TEXT REFERENCES users (id),
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
INSERT INTO refunds_many SELECT id, pledge_id, offer_id, method, amount_pence, status, reason, transfer_id,
    payee_name, payee_email, payee_reference, stripe_refund_id, failure_reason, check_after, completed_at,
    completed_by, created_at, updated_at FROM refunds;
DROP TABLE refunds;
ALTER TABLE refunds_many RENAME TO refunds;
CREATE INDEX refunds_offer ON refunds (offer_id, id);
CREATE INDEX refunds_due ON refunds (method, status, check_after);
CREATE INDEX refunds_pledge ON refunds (pledge_id, id);
