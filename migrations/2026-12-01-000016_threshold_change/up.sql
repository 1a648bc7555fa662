-- Relaxing the two-person rule also takes two people: a funder admin's request to raise a
-- fund's second-approval threshold, or to remove it, waits here until another admin of the
-- funder asks for the same (threshold_change_by set: a change is pending; threshold_change_to
-- NULL: remove the threshold).
ALTER TABLE funds ADD COLUMN threshold_change_by TEXT REFERENCES users (id);
ALTER TABLE funds ADD COLUMN threshold_change_to BIGINT CHECK (threshold_change_to >= 0);
ALTER TABLE funds ADD COLUMN threshold_change_at TIMESTAMP;
