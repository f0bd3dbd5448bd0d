-- 0013: composition (issue 18): child runs, waiting runs, sends, and each run's mailbox.

-- A child run's parent (no foreign key: a deleted parent leaves its children be).
ALTER TABLE runs ADD COLUMN parent TEXT;
-- What a `waiting` run waits for (JSON, see `Wait`), and whether it came (1: the run was
-- woken by it, not by its deadline).
ALTER TABLE runs ADD COLUMN waiting_json TEXT;
ALTER TABLE runs ADD COLUMN woken INTEGER NOT NULL DEFAULT 0;
-- The inputs of the sends among `next_json` (JSON object by branch), NULL when none: on
-- the run (its position) and on each checkpoint (for forks and replays).
ALTER TABLE runs ADD COLUMN sends_json TEXT;
ALTER TABLE checkpoints ADD COLUMN sends_json TEXT;

CREATE INDEX runs_by_parent ON runs (parent, created_at) WHERE parent IS NOT NULL;

-- The parked indexes of 0011 take in waiting runs (with a deadline, or woken: wake_at).
DROP INDEX runs_parked_by_wake;
DROP INDEX runs_parked_by_workflow;
CREATE INDEX runs_parked_by_wake ON runs (wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting');
CREATE INDEX runs_parked_by_workflow ON runs (workflow_name, wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting');

-- Each run's mailbox: signals in the order they came, each delivered once (the step that
-- received it sets `delivered_step` in its own commit).
CREATE TABLE signals (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    thread         TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    data_json      TEXT NOT NULL,
    sent_at        INTEGER NOT NULL,
    delivered_step INTEGER
) STRICT;
CREATE INDEX signals_by_thread ON signals (thread, id);
CREATE INDEX signals_undelivered ON signals (thread, name, id) WHERE delivered_step IS NULL;

-- The `waiting` status (parked until a signal or its child runs). SQLite cannot change a
-- CHECK constraint in place and a rebuild of `runs` would cascade its deletes into every
-- table that refers to it, so the constraint's text is edited in the schema, the way the
-- SQLite documentation describes for changes that no stored row contradicts (a new
-- allowed value): every existing row still passes it. Last in this file: an ALTER TABLE of
-- `runs` after it in the same transaction would place its column by the old text.
-- (The store opens its connection again after migrating, to parse the new text.)
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''interrupted'',', '''interrupted'', ''waiting'',')
 WHERE type = 'table' AND name = 'runs' AND sql NOT LIKE '%''waiting''%';
PRAGMA writable_schema = OFF;
