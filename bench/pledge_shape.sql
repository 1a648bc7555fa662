-- pgbench script: the transaction shape of one pledge, without the application around it.
-- Update the hot offer row (conditional on capacity), insert one pledge and two ledger rows.
\set amount 100
BEGIN;
UPDATE bench_offers SET pledged = pledged + :amount, pledge_count = pledge_count + 1
    WHERE id = 1 AND pledged + :amount <= max_target;
INSERT INTO bench_pledges (id, offer_id, amount, created_at) VALUES (gen_random_uuid()::text, 1, :amount, now());
INSERT INTO bench_ledger (id, account, amount, created_at) VALUES (gen_random_uuid()::text, 'investor', :amount, now());
INSERT INTO bench_ledger (id, account, amount, created_at) VALUES (gen_random_uuid()::text, 'escrow', :amount, now());
COMMIT;
