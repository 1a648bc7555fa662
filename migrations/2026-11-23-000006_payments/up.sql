-- Payments (DESIGN §4): card payments through Stripe, refunds by either method, and the Stripe
-- events already handled.

-- One Stripe PaymentIntent per card pledge. The row is written with the pledge; the intent is
-- created after that transaction commits (Stripe is never called inside one), so a row without
-- a payment_intent_id is a pledge whose intent is still to be made (the reconciliation job makes
-- it). check_after: when the reconciliation job next looks at it (also its claim).
CREATE TABLE card_payments (
    pledge_id         TEXT PRIMARY KEY REFERENCES pledges (id),
    payment_intent_id TEXT UNIQUE,
    client_secret     TEXT,
    stripe_status     TEXT NOT NULL,                -- Stripe's last known status, or 'creating'
    failure_reason    TEXT,                         -- the last failed attempt, as Stripe told it
    flag              TEXT,                         -- for the society's admins: a dispute, ...
    flagged_at        TIMESTAMP,
    check_after       TIMESTAMP NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX card_payments_check_after ON card_payments (check_after);

-- One refund per pledge, whatever asks for it (a cancellation in cooling-off, an offer
-- cancelled or failed, a card payment that arrived after its pledge ended). Its ledger transfer
-- is pending (escrow → investor) until the refund is confirmed: by Stripe for a card, by an
-- admin marking the bank refund instruction done.
CREATE TABLE refunds (
    id               TEXT PRIMARY KEY,
    pledge_id        TEXT NOT NULL UNIQUE REFERENCES pledges (id),
    offer_id         TEXT NOT NULL REFERENCES offers (id),
    method           TEXT NOT NULL CHECK (method IN ('card', 'bank_transfer')),
    amount_pence     BIGINT NOT NULL CHECK (amount_pence > 0),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason           TEXT NOT NULL,
    transfer_id      TEXT NOT NULL UNIQUE REFERENCES ledger_transfers (id),
    payee_name       TEXT NOT NULL,
    payee_email      TEXT NOT NULL,
    payee_reference  TEXT,                          -- bank: the reference the payer quoted
    stripe_refund_id TEXT UNIQUE,
    failure_reason   TEXT,
    check_after      TIMESTAMP NOT NULL,
    completed_at     TIMESTAMP,
    completed_by     TEXT REFERENCES users (id),
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX refunds_offer ON refunds (offer_id, id);
CREATE INDEX refunds_due ON refunds (method, status, check_after);

-- Stripe events handled, written in the transaction that handles them: a redelivered event
-- finds its id and changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
