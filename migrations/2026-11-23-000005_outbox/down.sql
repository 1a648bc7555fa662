ALTER TABLE users DROP COLUMN closing_reminders;
DROP TABLE outbox;
