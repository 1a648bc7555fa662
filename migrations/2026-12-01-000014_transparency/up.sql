-- The transparency log of public money (DESIGN §3, src/transparency): every ledger transfer that
-- touches a funder's, fund's, commitment's or offer-match account is queued here in the
-- transaction that makes it; the sequencer gives it its place in the Merkle tree (leaf_index)
-- and its canonical body, once, later, under the lock of transparency_tree.
CREATE TABLE transparency_entries (
    transfer_id TEXT PRIMARY KEY NOT NULL REFERENCES ledger_transfers (id),
    queued_at TIMESTAMP NOT NULL,
    leaf_index BIGINT UNIQUE CHECK (leaf_index >= 0),
    body TEXT,
    CHECK ((leaf_index IS NULL) = (body IS NULL))
);
CREATE INDEX transparency_entries_queue ON transparency_entries (queued_at, transfer_id) WHERE leaf_index IS NULL;

-- The tree's stored hashes (Go sumdb/tlog's layout: stored_hash_index(level, n)), base64.
CREATE TABLE transparency_hashes (
    stored_index BIGINT PRIMARY KEY NOT NULL CHECK (stored_index >= 0),
    hash TEXT NOT NULL
);

-- One row: the tree's size. The sequencer locks it, so one sequencer runs at a time over the
-- whole deployment.
CREATE TABLE transparency_tree (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tree_size BIGINT NOT NULL CHECK (tree_size >= 0)
);
INSERT INTO transparency_tree (id, tree_size) VALUES (1, 0);

-- Every signed checkpoint (C2SP tlog-checkpoint as a signed note), by tree size.
CREATE TABLE transparency_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL CHECK (tree_size > 0),
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);

-- A funder's witness key (C2SP vkey of a cosignature/v1 Ed25519 key), and its cosignatures.
ALTER TABLE funders ADD COLUMN witness_key TEXT;
CREATE TABLE transparency_cosignatures (
    tree_size BIGINT NOT NULL REFERENCES transparency_checkpoints (tree_size),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    signature_line TEXT NOT NULL,
    cosigned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tree_size, funder_id)
);

-- What the open data export says of a funder (360Giving): its organisation identifier, website
-- and the licence its data is published under.
ALTER TABLE funders ADD COLUMN organisation_id TEXT;
ALTER TABLE funders ADD COLUMN website TEXT;
ALTER TABLE funders ADD COLUMN licence_url TEXT;
