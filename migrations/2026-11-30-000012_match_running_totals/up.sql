-- What each investor holds of each application's match (the sum of their pledges' rows in
-- pledge_matches), kept in the same transaction as those rows: a fund's per-investor cap is
-- then one read, however many pledges the investor has made.
CREATE TABLE match_investor_totals (
    application_id TEXT NOT NULL REFERENCES match_applications (id),
    investor_id TEXT NOT NULL,
    matched_pence BIGINT NOT NULL CHECK (matched_pence >= 0),
    PRIMARY KEY (application_id, investor_id)
);

INSERT INTO match_investor_totals (application_id, investor_id, matched_pence)
SELECT pm.application_id, p.investor_id, SUM(pm.amount_pence)
FROM pledge_matches pm JOIN pledges p ON p.id = pm.pledge_id
GROUP BY pm.application_id, p.investor_id;

-- The last pledge in pledge order (created_at, id) the match engine has seen on the offer: a
-- new pledge after it is matched from running totals. (Not an index on pledges (offer_id,
-- created_at): PostgreSQL then chose it for an investor's holding, under the offer's lock, and
-- the surge without a fund fell by half.)
ALTER TABLE offers ADD COLUMN match_last_pledge_at TIMESTAMP;
ALTER TABLE offers ADD COLUMN match_last_pledge_id TEXT;
