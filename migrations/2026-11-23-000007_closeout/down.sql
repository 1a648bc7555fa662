DROP TABLE share_register;
ALTER TABLE offers DROP COLUMN match_allocated_pence;
ALTER TABLE offers DROP COLUMN allocated_pence;
