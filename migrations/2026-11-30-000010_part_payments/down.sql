-- Not reversible without losing part payments and the second refunds of a pledge.
SELECT 1;
