-- Money that moves outside the platform: what Stripe last said about a card payment (how much
-- of its charge has been refunded, whether it is disputed and how the dispute ended), so that
-- a refund made in the Stripe Dashboard or a lost dispute is recorded as money gone, an open
-- dispute holds the offer's close-out, and `ledger verify` can report any disagreement.
ALTER TABLE card_payments ADD COLUMN provider_refunded_pence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE card_payments ADD COLUMN dispute_id TEXT;
-- NULL (never disputed), 'open', 'won' or 'lost'.
ALTER TABLE card_payments ADD COLUMN dispute_status TEXT;
ALTER TABLE card_payments ADD COLUMN disputed_pence BIGINT NOT NULL DEFAULT 0;
CREATE INDEX card_payments_disputes ON card_payments (dispute_status);
