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

-- Pledge order: each pledge's place among its offer's pledges, numbered by the reservation
-- that takes the offer's row lock (offers.pledges_made counts every pledge ever made). The
-- match engine follows it; a new pledge is always last in it, so it is matched from running
-- totals. (Times from several instances' clocks need not agree; and an index on pledges
-- (offer_id, created_at) was chosen by PostgreSQL for an investor's holding, under the lock,
-- halving the surge without a fund.) Existing pledges are numbered in their old order
-- (created_at, id).
ALTER TABLE pledges ADD COLUMN offer_seq BIGINT NOT NULL DEFAULT 0;
UPDATE pledges SET offer_seq = numbered.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY offer_id ORDER BY created_at, id) AS n FROM pledges) AS numbered
WHERE numbered.id = pledges.id;
ALTER TABLE offers ADD COLUMN pledges_made BIGINT NOT NULL DEFAULT 0;
UPDATE offers SET pledges_made = (SELECT COUNT(*) FROM pledges p WHERE p.offer_id = offers.id);

-- What the offer's live funds may still match: the sum over its approved live-timing
-- applications of commitment less match. While it is zero a new pledge is matched nothing and
-- changes no other match (the reservation keeps pledges and match within the maximum), so the
-- match engine is not run. (A fund's rule is the JSON its creation wrote, without spaces.)
ALTER TABLE offers ADD COLUMN match_room_pence BIGINT NOT NULL DEFAULT 0;
UPDATE offers SET match_room_pence = COALESCE((
    SELECT SUM(a.commitment_pence - a.match_pence) FROM match_applications a JOIN funds f ON f.id = a.fund_id
    WHERE a.offer_id = offers.id AND a.status = 'approved' AND f.rule LIKE '%"timing":"live"%'), 0);
