-- Roles are invitations accepted. An invitation names an existing account and the society or
-- funder it would administer. A funder's invitation needs a second person before it reaches
-- the invitee (another admin of the funder, or a platform admin for its first two admins);
-- the role starts when the invitee accepts, and the admin row remembers who brought them in,
-- so that the two-person rule can refuse a requester's own recent invitees as the second
-- person.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('funder', 'society')),
    organisation_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    invited_by TEXT NOT NULL REFERENCES users (id),
    seconded_by TEXT REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('awaiting_second_admin', 'invited', 'accepted', 'declined')),
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP
);
-- At most one open invitation per person and organisation.
CREATE UNIQUE INDEX invitations_open ON invitations (kind, organisation_id, user_id)
    WHERE status IN ('awaiting_second_admin', 'invited');
CREATE INDEX invitations_invitee ON invitations (user_id, status);

ALTER TABLE funder_admins ADD COLUMN invited_by TEXT REFERENCES users (id);
ALTER TABLE funder_admins ADD COLUMN seconded_by TEXT REFERENCES users (id);
ALTER TABLE society_admins ADD COLUMN invited_by TEXT REFERENCES users (id);

-- Each funder's audit trail: who did what, when, from which request. Append-only.
CREATE TABLE funder_audit (
    id TEXT PRIMARY KEY NOT NULL,
    funder_id TEXT NOT NULL REFERENCES funders (id),
    at TIMESTAMP NOT NULL,
    actor_id TEXT REFERENCES users (id),
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX funder_audit_newest ON funder_audit (funder_id, at, id);

