-- 0008: time travel and run management. Every checkpoint gets a stable id and the id of
-- the checkpoint before it (`parent`; a fork's first checkpoint points into the run it was
-- forked from), and the branch it was written on: a replay in place starts a new branch
-- and moves the later checkpoints and their state writes into `superseded_*`, so that the
-- live tables keep exactly the current branch's chain (and every query of them stays as
-- it is). Runs get a creation order (`seq`, what listings page by), tags, and the step a
-- fork starts at; everything that happens to a run is an `events` row.

-- The run's current branch (0, one more with every replay in place), the id of its latest
-- checkpoint on it, its place in creation order, and its first step (a fork's step).
ALTER TABLE runs ADD COLUMN branch INTEGER NOT NULL DEFAULT 0 CHECK (branch >= 0);
ALTER TABLE runs ADD COLUMN head TEXT;
ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN first_step INTEGER NOT NULL DEFAULT 0 CHECK (first_step >= 0);

UPDATE runs SET seq = o.n
FROM (SELECT thread, ROW_NUMBER() OVER (ORDER BY created_at, thread) AS n FROM runs) AS o
WHERE o.thread = runs.thread;

-- Listings page newest created first, by any one filter. (No index holds `updated_at`,
-- which every step writes.) `runs_by_status` is replaced: (status, seq) serves the claims'
-- status lookups as well.
CREATE UNIQUE INDEX runs_by_seq ON runs (seq);
DROP INDEX runs_by_status;
CREATE INDEX runs_by_status ON runs (status, seq);
CREATE INDEX runs_by_workflow ON runs (workflow_name, seq);

-- Labels given at creation (`--tag key=value`).
CREATE TABLE run_tags (
    thread TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (thread, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_tags_by_value ON run_tags (key, value, thread);

-- Checkpoints with ids (16 lowercase hex digits, random), parents and branches. Existing
-- checkpoints get random ids, each the parent of the next step's.
CREATE TABLE checkpoints_0008 (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             INTEGER NOT NULL CHECK (step >= 1),
    id               TEXT NOT NULL,
    parent           TEXT,
    branch           INTEGER NOT NULL DEFAULT 0,
    node             TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (thread, step)
) STRICT, WITHOUT ROWID;
INSERT INTO checkpoints_0008 (thread, step, id, node, next_json, component_digest,
                              workflow_digest, created_at)
SELECT thread, step, lower(hex(randomblob(8))), node, next_json, component_digest,
       workflow_digest, created_at
FROM checkpoints;
UPDATE checkpoints_0008 SET parent = (
    SELECT c.id FROM checkpoints_0008 c
    WHERE c.thread = checkpoints_0008.thread AND c.step = checkpoints_0008.step - 1
);
DROP TABLE checkpoints;
ALTER TABLE checkpoints_0008 RENAME TO checkpoints;
CREATE UNIQUE INDEX checkpoints_by_id ON checkpoints (id);

UPDATE runs SET head = (
    SELECT c.id FROM checkpoints c WHERE c.thread = runs.thread AND c.step = runs.step
);

ALTER TABLE state_writes ADD COLUMN branch INTEGER NOT NULL DEFAULT 0;

-- What a replay in place went back before: the checkpoints and state writes of the steps
-- after it, as they were (with the branch they were written on).
CREATE TABLE superseded_checkpoints (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             INTEGER NOT NULL CHECK (step >= 1),
    id               TEXT NOT NULL,
    parent           TEXT,
    branch           INTEGER NOT NULL,
    node             TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (thread, branch, step)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX superseded_checkpoints_by_id ON superseded_checkpoints (id);

CREATE TABLE superseded_writes (
    thread     TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step       INTEGER NOT NULL CHECK (step >= 0),
    key        TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    value_json TEXT,
    blob       TEXT,
    branch     INTEGER NOT NULL,
    CHECK ((value_json IS NULL) <> (blob IS NULL)),
    PRIMARY KEY (thread, branch, key, step)
) STRICT, WITHOUT ROWID;
CREATE INDEX superseded_writes_by_step ON superseded_writes (thread, branch, step);

-- One row per replay in place: branch `branch` went on from step `from_step` of
-- `parent_branch`.
CREATE TABLE branches (
    thread        TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    branch        INTEGER NOT NULL CHECK (branch >= 1),
    parent_branch INTEGER NOT NULL,
    from_step     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (thread, branch)
) STRICT, WITHOUT ROWID;

-- Everything that happened to a run, one row per event, appended in the transaction of
-- the change. No foreign key: deleting a run deletes its events in bounded batches. Not
-- AUTOINCREMENT: that would write a page of `sqlite_sequence` in every commit; the id
-- still grows with every event (only the ids of the newest events of a deleted run can
-- come again, and nothing refers to those any more).
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    thread    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    data_json TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_thread ON events (thread, id);
