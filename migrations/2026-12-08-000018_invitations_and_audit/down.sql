DROP TABLE funder_audit;
ALTER TABLE society_admins DROP COLUMN invited_by;
ALTER TABLE funder_admins DROP COLUMN seconded_by;
ALTER TABLE funder_admins DROP COLUMN invited_by;
DROP TABLE invitations;
