ALTER TABLE bank_receipts DROP COLUMN statement_line;
ALTER TABLE bank_receipts DROP COLUMN statement_sha256;
ALTER TABLE bank_receipts DROP COLUMN confirmed_by;
DROP TABLE receipt_confirmations;
