-- Close-out (DESIGN §2): allocation into the share register, or refunds. The job works in
-- small committed steps, each idempotent by the state it changes (a paid pledge becomes
-- allocated, a pending match transfer posted), so a restart after a crash carries on.

-- Money moved from the offer's escrow and match accounts to the society's capital account,
-- kept in the same transactions as those transfers (ledger verify checks them).
ALTER TABLE offers ADD COLUMN allocated_pence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE offers ADD COLUMN match_allocated_pence BIGINT NOT NULL DEFAULT 0;

-- The society's register of members, one entry per member per offer (the statutory fields:
-- name, postal address, email, shares, amount paid, date entered; one vote each). A funder whose
-- match became shares is a member too (its address is not recorded by this platform).
CREATE TABLE share_register (
    id           TEXT PRIMARY KEY,
    society_id   TEXT NOT NULL REFERENCES societies (id),
    offer_id     TEXT NOT NULL REFERENCES offers (id),
    member_kind  TEXT NOT NULL CHECK (member_kind IN ('investor', 'funder')),
    member_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    address      TEXT,
    email        TEXT,
    shares       BIGINT NOT NULL CHECK (shares > 0),
    amount_pence BIGINT NOT NULL CHECK (amount_pence > 0),
    entered_at   TIMESTAMP NOT NULL,
    UNIQUE (offer_id, member_kind, member_id)
);
CREATE INDEX share_register_member ON share_register (member_kind, member_id);
