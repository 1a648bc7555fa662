-- Requests per client address and fixed window, for the throttle on anonymous writes
-- (registration, login, token refresh). Shared by every instance; old windows are purged.
CREATE TABLE request_counts (
    scope TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (scope, window_start)
);
CREATE INDEX request_counts_window_start ON request_counts (window_start);
