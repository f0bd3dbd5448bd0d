-- 0002: long-running runs. Runs park durably (sleep, interrupt, retry wait), run parallel
-- branches in one step, get cancelled, and are executed by several processes, each
-- holding a lease on the runs it executes.

-- When a sleeping or retrying run is due, or an interrupted run's deadline (unix ms).
ALTER TABLE runs ADD COLUMN wake_at INTEGER;
-- What an interrupted run waits for.
ALTER TABLE runs ADD COLUMN interrupt_json TEXT;
-- The input given with resume, for the next call.
ALTER TABLE runs ADD COLUMN resume_json TEXT;
-- 1: the next call follows an interrupt whose deadline passed.
ALTER TABLE runs ADD COLUMN timed_out INTEGER NOT NULL DEFAULT 0 CHECK (timed_out IN (0, 1));
ALTER TABLE runs ADD COLUMN wakes INTEGER NOT NULL DEFAULT 0 CHECK (wakes >= 0);
-- `attempt` when the run was last resumed by hand: the retry budget counts from there.
ALTER TABLE runs ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0 CHECK (retry_base >= 0);
-- Join bookkeeping, part of the run's position.
ALTER TABLE runs ADD COLUMN joins_json TEXT NOT NULL DEFAULT '{}';
-- Who executes the run, and until when unless renewed.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires INTEGER;

-- Claiming due runs, and finding the next wake time.
CREATE INDEX runs_by_wake ON runs (status, wake_at);

-- Updates of parallel branches that succeeded in a step that has not committed yet (a
-- sibling failed or interrupted), so that they are not run again. Cleared by the commit.
CREATE TABLE pending_writes (
    thread           TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    step             INTEGER NOT NULL CHECK (step >= 1),
    node             TEXT NOT NULL,
    update_json      TEXT NOT NULL,
    goto             TEXT,
    component_digest TEXT NOT NULL,
    PRIMARY KEY (thread, step, node)
) STRICT;
