-- 0001: the whole schema, as SQLite's stands after its migrations 0001-0007, in Postgres
-- types: integers and unix-ms times are BIGINT, JSON is TEXT (jsonb would reorder keys,
-- and a state's keys keep the order of their first write), component bytes are BYTEA.
-- `timed_out` stays an integer 0/1 so that rows copy into and out of bundles (SQLite
-- files) column for column.

-- Workflow files, content-addressed: a run keeps the exact text it started with.
CREATE TABLE workflows (
    digest     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per thread: where the run is and what happened last, and who executes it.
CREATE TABLE runs (
    thread          TEXT PRIMARY KEY,
    workflow_name   TEXT NOT NULL,
    workflow_digest TEXT NOT NULL REFERENCES workflows (digest),
    workflow_path   TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN (
                        'pending', 'running', 'sleeping', 'interrupted',
                        'retrying', 'completed', 'failed', 'cancelled')),
    step            BIGINT NOT NULL CHECK (step >= 0),
    next_json       TEXT NOT NULL,
    error           TEXT,
    error_node      TEXT,
    attempt         BIGINT NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    wake_at         BIGINT,
    interrupt_json  TEXT,
    resume_json     TEXT,
    timed_out       BIGINT NOT NULL DEFAULT 0 CHECK (timed_out IN (0, 1)),
    wakes           BIGINT NOT NULL DEFAULT 0 CHECK (wakes >= 0),
    retry_base      BIGINT NOT NULL DEFAULT 0 CHECK (retry_base >= 0),
    joins_json      TEXT NOT NULL DEFAULT '{}',
    lease_owner     TEXT,
    lease_expires   BIGINT,
    lease_epoch     BIGINT NOT NULL DEFAULT 0 CHECK (lease_epoch >= 0)
);

-- Claiming runnable runs and finding the next wake time; listings by status.
CREATE INDEX runs_by_status ON runs (status, wake_at);
CREATE INDEX runs_by_updated ON runs (updated_at DESC);
CREATE INDEX runs_by_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;

-- One row per committed step.
CREATE TABLE checkpoints (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             BIGINT NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (thread, step)
);
CREATE INDEX checkpoints_by_workflow ON checkpoints (workflow_digest);

-- What nodes logged, in insertion order; failed attempts included.
CREATE TABLE logs (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread  TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step    BIGINT NOT NULL,
    node    TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX logs_by_thread ON logs (thread, id);

-- Updates of parallel branches that succeeded in a step that has not committed yet.
CREATE TABLE pending_writes (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             BIGINT NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    update_json      TEXT NOT NULL,
    goto             TEXT,
    component_digest TEXT NOT NULL,
    PRIMARY KEY (thread, step, node)
);

-- Content-addressed state values: `digest` is "sha256:<hex>" of `data`.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The keys each step wrote (step 0: the run's input).
CREATE TABLE state_writes (
    thread     TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step       BIGINT NOT NULL CHECK (step >= 0),
    key        TEXT NOT NULL,
    ord        BIGINT NOT NULL,
    value_json TEXT,
    blob       TEXT,
    CHECK ((value_json IS NULL) <> (blob IS NULL)),
    PRIMARY KEY (thread, key, step)
);
CREATE INDEX state_writes_by_step ON state_writes (thread, step);
CREATE INDEX state_writes_by_blob ON state_writes (blob) WHERE blob IS NOT NULL;

-- Exact-code pinning: component bytes by digest, and which version each run uses.
CREATE TABLE components (
    digest     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    bytes      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE run_plugins (
    thread TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES components (digest),
    PRIMARY KEY (thread, plugin)
);
CREATE INDEX run_plugins_by_digest ON run_plugins (digest);

-- The `savepoint serve` daemons that serve this database.
CREATE TABLE daemons (
    owner      TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
