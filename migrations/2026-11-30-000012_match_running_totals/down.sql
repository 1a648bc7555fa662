ALTER TABLE offers DROP COLUMN match_last_pledge_id;
ALTER TABLE offers DROP COLUMN match_last_pledge_at;
DROP TABLE match_investor_totals;
