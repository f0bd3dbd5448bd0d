-- 0003: checkpoints that grow with the change. The state is stored per top-level key: a
-- step writes only the keys whose value it changed (as LangGraph's channel versions), and
-- the run's input is the writes of step 0. The state after step N is, for every key, its
-- latest write at or before N; keys appear in the order of their first write. A value too
-- large to repeat is stored once in `blobs`, however many runs and steps hold it.
--
-- A step's commit also touches as few pages as it can (each is a WAL frame to write and
-- sync): checkpoints and state writes are clustered by their key (WITHOUT ROWID), and the
-- run indexes no longer contain `updated_at`, which every step changes.

-- Content-addressed values: `digest` is "sha256:<hex>" of `data`.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE state_writes (
    thread     TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step       INTEGER NOT NULL CHECK (step >= 0),
    key        TEXT NOT NULL,
    ord        INTEGER NOT NULL,    -- the key's place among the step's writes
    value_json TEXT,                -- the value's JSON, when stored inline
    blob       TEXT,                -- else the digest of its JSON in `blobs`
    CHECK ((value_json IS NULL) <> (blob IS NULL)),
    PRIMARY KEY (thread, key, step)
) STRICT, WITHOUT ROWID;

-- Existing runs: the input as step 0, and every checkpoint's whole state as its writes
-- (correct, if not small: every key is written at every step). `->` gives a value's JSON.
INSERT INTO state_writes (thread, step, key, ord, value_json)
SELECT r.thread, 0, j.key, j.id, r.input_json -> j.fullkey
FROM runs r, json_each(r.input_json) j;

INSERT INTO state_writes (thread, step, key, ord, value_json)
SELECT c.thread, c.step, j.key, j.id, c.state_json -> j.fullkey
FROM checkpoints c, json_each(c.state_json) j;

ALTER TABLE runs DROP COLUMN input_json;

CREATE TABLE checkpoints_0003 (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             INTEGER NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (thread, step)
) STRICT, WITHOUT ROWID;
INSERT INTO checkpoints_0003
SELECT thread, step, node, next_json, component_digest, workflow_digest, created_at
FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_0003 RENAME TO checkpoints;

DROP INDEX runs_by_updated;
DROP INDEX runs_by_status;
CREATE INDEX runs_by_status ON runs (status);
