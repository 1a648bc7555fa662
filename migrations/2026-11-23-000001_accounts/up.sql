-- Accounts, sessions, login throttling, societies and funders.
-- Ids are application-generated UUIDv7 strings; times are UTC TIMESTAMP (see DESIGN.md §4).

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,          -- normalised: trimmed, lower case
    password_hash     TEXT NOT NULL,                 -- argon2id PHC string
    display_name      TEXT NOT NULL,
    is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    full_name         TEXT,
    address_line1     TEXT,
    address_line2     TEXT,
    town              TEXT,
    postcode          TEXT,
    date_of_birth     DATE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- A login starts a family of refresh tokens; each refresh rotates to a new token of the family.
CREATE TABLE refresh_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id),
    token_hash TEXT NOT NULL UNIQUE,                 -- SHA-256 of the token; the token is never stored
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- One row per failed login, by scope ('email:...' or 'addr:...'); counted over a window.
CREATE TABLE login_failures (
    id        TEXT PRIMARY KEY,
    scope     TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_scope_failed_at ON login_failures (scope, failed_at);

CREATE TABLE societies (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('co_operative', 'community_benefit_society')),
    registration_number TEXT NOT NULL UNIQUE,
    postcode            TEXT NOT NULL,
    bank_account_name   TEXT,
    bank_sort_code      TEXT,
    bank_account_number TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);

CREATE TABLE society_admins (
    society_id TEXT NOT NULL REFERENCES societies (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (society_id, user_id)
);
CREATE INDEX society_admins_user_id ON society_admins (user_id);

CREATE TABLE funders (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE funder_admins (
    funder_id  TEXT NOT NULL REFERENCES funders (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (funder_id, user_id)
);
CREATE INDEX funder_admins_user_id ON funder_admins (user_id);
