-- Match funding: funds with a budget and a rule, societies' applications, and the match of
-- each pledge by each fund. Money moves in the ledger: funder -> fund (budget), fund ->
-- commitment:<application> (approval), commitment -> match:<offer> (pending, per pledge).

CREATE TABLE funds (
    id           TEXT PRIMARY KEY,
    funder_id    TEXT NOT NULL REFERENCES funders (id),
    name         TEXT NOT NULL,
    budget_pence BIGINT NOT NULL CHECK (budget_pence > 0),
    rule         TEXT NOT NULL,                    -- the rule as JSON (domain::matching::Rule)
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX funds_funder_id ON funds (funder_id);

CREATE TABLE match_applications (
    id               TEXT PRIMARY KEY,
    fund_id          TEXT NOT NULL REFERENCES funds (id),
    offer_id         TEXT NOT NULL REFERENCES offers (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'released')),
    commitment_pence BIGINT NOT NULL DEFAULT 0,
    match_pence      BIGINT NOT NULL DEFAULT 0,    -- this fund's current match on the offer
    reason           TEXT,
    decided_by       TEXT REFERENCES users (id),
    decided_at       TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (fund_id, offer_id)
);
CREATE INDEX match_applications_offer_id ON match_applications (offer_id);

-- The match one application gives one pledge, and the pending transfer that reserves it.
CREATE TABLE pledge_matches (
    application_id TEXT NOT NULL REFERENCES match_applications (id),
    pledge_id      TEXT NOT NULL REFERENCES pledges (id),
    amount_pence   BIGINT NOT NULL CHECK (amount_pence >= 0),
    transfer_id    TEXT REFERENCES ledger_transfers (id),   -- NULL while the amount is zero
    version        INTEGER NOT NULL,
    PRIMARY KEY (application_id, pledge_id)
);
CREATE INDEX pledge_matches_pledge_id ON pledge_matches (pledge_id);
