-- 0001: runs, their checkpoints and node logs, and the workflow texts runs are pinned to.
-- Times are unix milliseconds; JSON columns are TEXT.

-- Workflow files, content-addressed: a run keeps the exact text it started with.
CREATE TABLE workflows (
    digest     TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- One row per thread: where the run is and what happened last.
CREATE TABLE runs (
    thread          TEXT PRIMARY KEY NOT NULL,
    workflow_name   TEXT NOT NULL,
    workflow_digest TEXT NOT NULL REFERENCES workflows (digest),
    workflow_path   TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN (
                        'pending', 'running', 'sleeping', 'interrupted',
                        'retrying', 'completed', 'failed', 'cancelled')),
    step            INTEGER NOT NULL CHECK (step >= 0),  -- committed steps
    next_json       TEXT NOT NULL,                       -- nodes to run next
    input_json      TEXT NOT NULL,                       -- the state at step 0
    error           TEXT,
    error_node      TEXT,
    attempt         INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX runs_by_status ON runs (status, updated_at);
CREATE INDEX runs_by_updated ON runs (updated_at);

-- One row per committed step: the whole state after it.
CREATE TABLE checkpoints (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             INTEGER NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    state_json       TEXT NOT NULL,
    next_json        TEXT NOT NULL,
    component_digest TEXT NOT NULL,
    workflow_digest  TEXT NOT NULL REFERENCES workflows (digest),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (thread, step)
) STRICT;

-- What nodes logged, in insertion order; failed attempts included.
CREATE TABLE logs (
    id      INTEGER PRIMARY KEY,
    thread  TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step    INTEGER NOT NULL,
    node    TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX logs_by_thread ON logs (thread, id);
