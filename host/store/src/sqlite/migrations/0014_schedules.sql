-- 0014: schedules (issue 18). A schedule starts one run per due time; `next_due_at` is the
-- first due time not fired yet, moved on by a compare-and-set so that of several hosts
-- firing the same due time one moves it (the runs themselves are made unique by their
-- thread, derived from the schedule and the due time). The workflow text its runs are
-- pinned to is in `workflows` under `workflow_digest`, kept by `gc` while the schedule is.
CREATE TABLE schedules (
    name            TEXT PRIMARY KEY,
    spec_json       TEXT NOT NULL,       -- ScheduleSpec: {"kind": "cron" | "every", ...}
    workflow_name   TEXT NOT NULL,
    workflow_digest TEXT NOT NULL,
    workflow_path   TEXT NOT NULL,
    input_json      TEXT NOT NULL,       -- a JSON object: every run's input
    catch_up        TEXT NOT NULL CHECK (catch_up IN ('none', 'last', 'all')),
    paused          INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    next_due_at     INTEGER NOT NULL,    -- ms since the epoch
    last_fired_at   INTEGER,             -- ms since the epoch
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
