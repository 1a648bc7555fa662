-- An investor's live pledges to an offer are summed on every pledge (the holding limits). With
-- the status and amount in the index the sum reads the index alone, never the pledge rows.
CREATE INDEX pledges_offer_investor_holding ON pledges (offer_id, investor_id, status, amount_pence);
DROP INDEX pledges_offer_investor;
