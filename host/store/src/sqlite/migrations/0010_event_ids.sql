-- 0010: event ids are never used twice. A follower of every run's events (an event
-- stream, `Last-Event-ID`) goes on after the last id it saw; without AUTOINCREMENT,
-- SQLite gives a new row the largest id + 1, so deleting the run that holds the newest
-- events would hand their ids out again, and the follower would skip the new events.

CREATE TABLE events_numbered (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    thread    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    data_json TEXT NOT NULL
) STRICT;
INSERT INTO events_numbered (id, thread, at, step, kind, data_json)
SELECT id, thread, at, step, kind, data_json FROM events;
DROP TABLE events;
ALTER TABLE events_numbered RENAME TO events;
CREATE INDEX events_by_thread ON events (thread, id);
