-- The pledge ledger (TigerBeetle-style accounts and two-phase transfers), pledges, bank
-- receipts, and idempotency keys.

-- An account's id is '<kind>:<owner id>' (e.g. 'escrow:<offer id>'). Only src/ledger writes
-- the balance columns. The flag is enforced by the conditional UPDATE that moves a balance.
CREATE TABLE ledger_accounts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    debits_must_not_exceed_credits BOOLEAN NOT NULL DEFAULT FALSE,
    debits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at      TIMESTAMP NOT NULL
);

-- A transfer's id is its idempotency key. phase: 'single' (posted at once), 'pending' (its
-- state moves to 'posted' or 'voided': the only update ever made to a transfer), and 'post' /
-- 'void' records that resolve a pending transfer (pending_id) and carry its amount.
CREATE TABLE ledger_transfers (
    id                TEXT PRIMARY KEY,
    debit_account_id  TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    kind              TEXT NOT NULL,
    phase             TEXT NOT NULL CHECK (phase IN ('single', 'pending', 'post', 'void')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    pending_id        TEXT REFERENCES ledger_transfers (id),
    cause             TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id);
-- A pending transfer is resolved (posted or voided) at most once.
CREATE UNIQUE INDEX ledger_transfers_pending_id ON ledger_transfers (pending_id);

CREATE TABLE pledges (
    id                TEXT PRIMARY KEY,
    offer_id          TEXT NOT NULL REFERENCES offers (id),
    investor_id       TEXT NOT NULL REFERENCES users (id),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'allocated', 'cancelled', 'expired', 'refunded')),
    amount_pence      BIGINT NOT NULL CHECK (amount_pence > 0),
    shares            BIGINT NOT NULL CHECK (shares > 0),
    match_pence       BIGINT NOT NULL DEFAULT 0,
    payment_method    TEXT NOT NULL CHECK (payment_method IN ('card', 'bank_transfer')),
    bank_reference    TEXT UNIQUE,
    transfer_id       TEXT NOT NULL REFERENCES ledger_transfers (id),
    cancellable_until TIMESTAMP NOT NULL,
    payment_due_at    TIMESTAMP NOT NULL,
    paid_at           TIMESTAMP,
    ended_at          TIMESTAMP,                              -- cancelled, expired or refunded
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX pledges_offer_investor ON pledges (offer_id, investor_id);
CREATE INDEX pledges_investor ON pledges (investor_id);
CREATE INDEX pledges_status_due ON pledges (status, payment_due_at);

CREATE TABLE bank_receipts (
    id           TEXT PRIMARY KEY,
    offer_id     TEXT NOT NULL REFERENCES offers (id),
    pledge_id    TEXT NOT NULL UNIQUE REFERENCES pledges (id),
    reference    TEXT NOT NULL,
    amount_pence BIGINT NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    recorded_by  TEXT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL
);

-- A POST with an Idempotency-Key claims its row first and stores its successful answer in the
-- same transaction as its effect (so the row is only ever seen complete); a repeat with the
-- same key and request gets the answer back.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
