CREATE INDEX pledges_offer_investor ON pledges (offer_id, investor_id);
DROP INDEX pledges_offer_investor_holding;
