-- A receipt an admin typed by hand is marked as such. When a later statement import finds the
-- same money on the statement (same pledge, same amount, a few days apart), the hand receipt
-- takes that line's fingerprint: the line is then recorded, once, as the money already
-- received, and no second receipt (nor a refund of money received once) is made of it.
ALTER TABLE bank_receipts ADD COLUMN by_hand BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE bank_receipts SET by_hand = TRUE WHERE fingerprint IS NULL;
