ALTER TABLE funds DROP COLUMN threshold_change_at;
ALTER TABLE funds DROP COLUMN threshold_change_to;
ALTER TABLE funds DROP COLUMN threshold_change_by;
