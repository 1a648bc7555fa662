DROP TABLE funder_admins;
DROP TABLE funders;
DROP TABLE society_admins;
DROP TABLE societies;
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE users;
