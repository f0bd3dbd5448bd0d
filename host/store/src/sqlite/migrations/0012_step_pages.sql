-- 0012: fewer pages per step. In sequential use every commit waits for the fsync of the
-- WAL frames it appends, one per page it changed; a step's commit changed 11 pages.

-- Event ids without AUTOINCREMENT, which rewrote its `sqlite_sequence` row (a page) in
-- every commit that added an event. Ids are still never used twice (0010): SQLite gives
-- a new row the largest id + 1, which is a used id only after the newest events were
-- deleted; `event_ids` keeps the largest id ever deleted (written only by deletes) and a
-- new event numbered at or below it is moved above it.
CREATE TABLE event_ids (
    deleted INTEGER NOT NULL   -- the largest id an event that was deleted had
) STRICT;
INSERT INTO event_ids (deleted)
SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
           coalesce((SELECT max(id) FROM events), 0));

CREATE TABLE events_0012 (
    id        INTEGER PRIMARY KEY,
    thread    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    data_json TEXT NOT NULL
) STRICT;
INSERT INTO events_0012 (id, thread, at, step, kind, data_json)
SELECT id, thread, at, step, kind, data_json FROM events;
DROP TABLE events;
ALTER TABLE events_0012 RENAME TO events;
CREATE INDEX events_by_thread ON events (thread, id);

-- Per deleted row, but a read only unless it is the newest ever deleted.
CREATE TRIGGER events_deleted AFTER DELETE ON events
WHEN OLD.id > (SELECT deleted FROM event_ids)
BEGIN
    UPDATE event_ids SET deleted = OLD.id;
END;

-- Per added row, a read of `event_ids`' one page (cached): no write unless the id was
-- used before.
CREATE TRIGGER events_numbered AFTER INSERT ON events
WHEN NEW.id <= (SELECT deleted FROM event_ids)
BEGIN
    UPDATE events SET id = (SELECT deleted FROM event_ids) + 1 WHERE id = NEW.id;
END;

-- Log lines clustered by run, numbered within it from 1: the table is its own index by
-- run (`logs_by_thread` was a second page per step). Lines keep the numbers they had
-- (growing within each run); a run's next line is its largest number + 1.
CREATE TABLE logs_0012 (
    thread  TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    id      INTEGER NOT NULL CHECK (id >= 1),
    step    INTEGER NOT NULL,
    node    TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (thread, id)
) STRICT, WITHOUT ROWID;
INSERT INTO logs_0012 (thread, id, step, node, attempt, level, message, at)
SELECT thread, id, step, node, attempt, level, message, at FROM logs;
DROP TABLE logs;
ALTER TABLE logs_0012 RENAME TO logs;
