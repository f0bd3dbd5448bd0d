-- 0005: composition (issue 18): child runs, waiting runs, sends, and each run's mailbox.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN (
    'pending', 'running', 'sleeping', 'interrupted', 'waiting',
    'retrying', 'completed', 'failed', 'cancelled'));
-- A child run's parent (no foreign key: a deleted parent leaves its children be); what a
-- `waiting` run waits for (JSON, see `Wait`), and whether it came (1: woken by it, not by
-- its deadline); the inputs of the sends among `next_json`, NULL when none.
ALTER TABLE runs
    ADD COLUMN parent TEXT,
    ADD COLUMN waiting_json TEXT,
    ADD COLUMN woken BIGINT NOT NULL DEFAULT 0 CHECK (woken IN (0, 1)),
    ADD COLUMN sends_json TEXT;
ALTER TABLE checkpoints ADD COLUMN sends_json TEXT;
CREATE INDEX runs_by_parent ON runs (parent, created_at) WHERE parent IS NOT NULL;

-- The parked indexes of 0004 take in waiting runs (with a deadline, or woken: wake_at).
DROP INDEX runs_parked_by_wake;
DROP INDEX runs_parked_by_workflow;
CREATE INDEX runs_parked_by_wake ON runs (wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting');
CREATE INDEX runs_parked_by_workflow ON runs (workflow_name, wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting');

-- Each run's mailbox: signals in the order they came, each delivered once (the step that
-- received it sets `delivered_step` in its own commit). No foreign key, as events: a
-- delete removes them in bounded transactions of its own.
CREATE TABLE signals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread         TEXT NOT NULL,
    name           TEXT NOT NULL,
    data_json      TEXT NOT NULL,
    sent_at        BIGINT NOT NULL,
    delivered_step BIGINT
);
CREATE INDEX signals_by_thread ON signals (thread, id);
CREATE INDEX signals_undelivered ON signals (thread, name, id) WHERE delivered_step IS NULL;
