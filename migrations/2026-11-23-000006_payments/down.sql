DROP TABLE stripe_events;
DROP TABLE refunds;
DROP TABLE card_payments;
