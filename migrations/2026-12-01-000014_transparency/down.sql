DROP TABLE transparency_cosignatures;
ALTER TABLE funders DROP COLUMN licence_url;
ALTER TABLE funders DROP COLUMN website;
ALTER TABLE funders DROP COLUMN organisation_id;
ALTER TABLE funders DROP COLUMN witness_key;
DROP TABLE transparency_checkpoints;
DROP TABLE transparency_tree;
DROP TABLE transparency_hashes;
DROP TABLE transparency_entries;
