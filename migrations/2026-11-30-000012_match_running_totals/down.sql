DROP TABLE match_investor_totals;
DROP INDEX pledges_offer_order;
