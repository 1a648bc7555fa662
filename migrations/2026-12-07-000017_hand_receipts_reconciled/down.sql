ALTER TABLE bank_receipts DROP COLUMN by_hand;
