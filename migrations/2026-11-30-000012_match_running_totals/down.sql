ALTER TABLE offers DROP COLUMN match_room_pence;
ALTER TABLE offers DROP COLUMN pledges_made;
ALTER TABLE pledges DROP COLUMN offer_seq;
DROP TABLE match_investor_totals;
