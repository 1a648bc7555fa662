DROP INDEX card_payments_disputes;
ALTER TABLE card_payments DROP COLUMN disputed_pence;
ALTER TABLE card_payments DROP COLUMN dispute_status;
ALTER TABLE card_payments DROP COLUMN dispute_id;
ALTER TABLE card_payments DROP COLUMN provider_refunded_pence;
