-- 0002: time travel and run management, as SQLite's 0008: checkpoint ids and parents,
-- branches (replay in place), events, creation order and tags (search). Existing rows get
-- ids, parents chained by step, heads and a creation order.

-- Runs: their creation order (listings page by it: a new run never enters a page read
-- already), current checkpoint, current branch, and the first step that can be named (a
-- fork has none before the step it was forked at).
CREATE SEQUENCE runs_seq;
ALTER TABLE runs
    ADD COLUMN seq        BIGINT,
    ADD COLUMN head       TEXT,
    ADD COLUMN branch     BIGINT NOT NULL DEFAULT 0 CHECK (branch >= 0),
    ADD COLUMN first_step BIGINT NOT NULL DEFAULT 0 CHECK (first_step >= 0);
UPDATE runs r SET seq = o.n
FROM (SELECT thread, row_number() OVER (ORDER BY created_at, thread COLLATE "C") AS n
      FROM runs) o
WHERE r.thread = o.thread;
SELECT setval('runs_seq', coalesce((SELECT max(seq) FROM runs), 0) + 1, false);
ALTER TABLE runs
    ALTER COLUMN seq SET DEFAULT nextval('runs_seq'),
    ALTER COLUMN seq SET NOT NULL;
ALTER SEQUENCE runs_seq OWNED BY runs.seq;
CREATE UNIQUE INDEX runs_by_seq ON runs (seq);
CREATE INDEX runs_by_status_seq ON runs (status, seq);
CREATE INDEX runs_by_workflow_seq ON runs (workflow_name, seq);
-- Whether any run still refers to a workflow text, when a delete frees the texts of the
-- run it deleted (written only by an upgrade: a step's UPDATE stays heap-only).
CREATE INDEX runs_by_workflow_digest ON runs (workflow_digest);
-- Listings no longer order by `updated_at`, and every step writes it: an index on it made
-- every step's UPDATE of its run a new index entry (no heap-only update).
DROP INDEX runs_by_updated;

-- Labels given at creation.
CREATE TABLE run_tags (
    thread TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (thread, key)
);
CREATE INDEX run_tags_by_value ON run_tags (key, value, thread);

-- Checkpoint ids (16 hex digits, random, unique in the database), the checkpoint before
-- each, and the branch each was written on. Existing checkpoints: branch 0, chained by step.
ALTER TABLE checkpoints
    ADD COLUMN id     TEXT,
    ADD COLUMN parent TEXT,
    ADD COLUMN branch BIGINT NOT NULL DEFAULT 0 CHECK (branch >= 0);
UPDATE checkpoints SET id = substr(md5(random()::text || clock_timestamp()::text || thread
                                       || ':' || step::text), 1, 16);
UPDATE checkpoints c SET parent = p.id
FROM checkpoints p WHERE p.thread = c.thread AND p.step = c.step - 1;
-- The store names each checkpoint it writes; the default names those copied in from a
-- bundle of a savepoint that did not.
ALTER TABLE checkpoints
    ALTER COLUMN id SET NOT NULL,
    ALTER COLUMN id SET DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 16);
CREATE UNIQUE INDEX checkpoints_by_id ON checkpoints (id);
UPDATE runs r SET head = c.id FROM checkpoints c WHERE c.thread = r.thread AND c.step = r.step;

ALTER TABLE state_writes ADD COLUMN branch BIGINT NOT NULL DEFAULT 0 CHECK (branch >= 0);

-- What a replay in place went back before: the same rows, moved out of the live tables
-- (which hold exactly the current branch's chain, so every read of them stays as it is).
CREATE TABLE superseded_checkpoints (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             BIGINT NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       BIGINT NOT NULL,
    id               TEXT NOT NULL,
    parent           TEXT,
    branch           BIGINT NOT NULL CHECK (branch >= 0),
    PRIMARY KEY (thread, branch, step)
);
CREATE UNIQUE INDEX superseded_checkpoints_by_id ON superseded_checkpoints (id);
CREATE INDEX superseded_checkpoints_by_workflow ON superseded_checkpoints (workflow_digest);

CREATE TABLE superseded_writes (
    thread     TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step       BIGINT NOT NULL CHECK (step >= 0),
    key        TEXT NOT NULL,
    ord        BIGINT NOT NULL,
    value_json TEXT,
    blob       TEXT,
    branch     BIGINT NOT NULL CHECK (branch >= 0),
    CHECK ((value_json IS NULL) <> (blob IS NULL)),
    PRIMARY KEY (thread, branch, key, step)
);
CREATE INDEX superseded_writes_by_blob ON superseded_writes (blob) WHERE blob IS NOT NULL;

-- Each replay in place: the branch it started, the branch it left and the step it went
-- back to.
CREATE TABLE branches (
    thread        TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    branch        BIGINT NOT NULL CHECK (branch >= 1),
    parent_branch BIGINT NOT NULL CHECK (parent_branch >= 0),
    from_step     BIGINT NOT NULL CHECK (from_step >= 0),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (thread, branch)
);

-- What happened to each run, one row per event, appended in the transaction of the change.
-- No foreign key: a delete removes them in bounded transactions of their own.
CREATE TABLE events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    step      BIGINT NOT NULL CHECK (step >= 0),
    kind      TEXT NOT NULL,
    data_json TEXT NOT NULL
);
CREATE INDEX events_by_thread ON events (thread, id);
