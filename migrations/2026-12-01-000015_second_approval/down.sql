DROP TABLE commitment_requests;
ALTER TABLE funds DROP COLUMN second_approval_threshold_pence;
