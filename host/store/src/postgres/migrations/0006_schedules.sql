-- 0006: schedules (issue 18), as SQLite's 0014: one row per schedule; `next_due_at` is
-- the first due time not fired yet, moved on by compare-and-set (several hosts fire the
-- same due time, one moves it; the runs are unique by their thread). The workflow text is
-- in `workflows`, kept by `gc` while a schedule names it.
CREATE TABLE schedules (
    name            TEXT PRIMARY KEY,
    spec_json       TEXT NOT NULL,
    workflow_name   TEXT NOT NULL,
    workflow_digest TEXT NOT NULL,
    workflow_path   TEXT NOT NULL,
    input_json      TEXT NOT NULL,
    catch_up        TEXT NOT NULL CHECK (catch_up IN ('none', 'last', 'all')),
    paused          BIGINT NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    next_due_at     BIGINT NOT NULL,
    last_fired_at   BIGINT,
    created_at      BIGINT NOT NULL
);
