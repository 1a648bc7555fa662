-- Share offers, their lifecycle audit, and the running totals kept beside the ledger.

CREATE TABLE offers (
    id                      TEXT PRIMARY KEY,
    society_id              TEXT NOT NULL REFERENCES societies (id),
    status                  TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'open', 'closed',
                                'succeeded', 'allocated', 'failed', 'refunded', 'cancelled')),
    title                   TEXT NOT NULL,
    summary                 TEXT NOT NULL,
    document_url            TEXT,
    share_price_pence       BIGINT NOT NULL CHECK (share_price_pence >= 1),
    min_target_pence        BIGINT NOT NULL,
    target_pence            BIGINT NOT NULL,
    max_target_pence        BIGINT NOT NULL,
    min_holding_pence       BIGINT NOT NULL,
    max_holding_pence       BIGINT NOT NULL,
    opens_at                TIMESTAMP NOT NULL,
    closes_at               TIMESTAMP NOT NULL,
    cooling_off_days        INTEGER NOT NULL,
    interest_rate_bps       INTEGER NOT NULL,
    min_age                 INTEGER NOT NULL DEFAULT 16,
    postcode_prefixes       TEXT NOT NULL DEFAULT '',       -- comma-separated; empty = anywhere
    community_pledged_pence BIGINT NOT NULL DEFAULT 0,      -- live (pending + paid) community pledges
    community_paid_pence    BIGINT NOT NULL DEFAULT 0,
    match_pence             BIGINT NOT NULL DEFAULT 0,
    investor_count          INTEGER NOT NULL DEFAULT 0,
    pledge_count            INTEGER NOT NULL DEFAULT 0,
    opened_at               TIMESTAMP,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL,
    CHECK (community_pledged_pence + match_pence <= max_target_pence)
);
CREATE INDEX offers_society_id ON offers (society_id);
CREATE INDEX offers_status_opens_at ON offers (status, opens_at);
CREATE INDEX offers_status_closes_at ON offers (status, closes_at);

-- Who moved which offer from which state to which, and when. Rows are only ever inserted.
CREATE TABLE offer_audit (
    id          TEXT PRIMARY KEY,
    offer_id    TEXT NOT NULL REFERENCES offers (id),
    from_status TEXT,                                      -- NULL when the offer was created
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,                             -- 'user:<id>' or 'scheduler'
    at          TIMESTAMP NOT NULL
);
CREATE INDEX offer_audit_offer_id ON offer_audit (offer_id, at);
