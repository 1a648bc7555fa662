DROP TABLE idempotency_keys;
DROP TABLE bank_receipts;
DROP TABLE pledges;
DROP TABLE ledger_transfers;
DROP TABLE ledger_accounts;
