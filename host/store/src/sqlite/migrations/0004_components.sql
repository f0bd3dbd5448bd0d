-- 0004: exact-code pinning. The bytes of every component a run uses are stored once,
-- content-addressed, and each run records which version of each plugin it uses: a run keeps
-- running the component it started with after the file is replaced or deleted.

CREATE TABLE components (
    digest     TEXT PRIMARY KEY NOT NULL,   -- "sha256:<hex>" of bytes
    name       TEXT NOT NULL,               -- the plugin name it was first stored under
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The plugin versions a run is pinned to. Runs from before 0004 have none and use the
-- plugins folder's current files.
CREATE TABLE run_plugins (
    thread TEXT NOT NULL REFERENCES runs (thread) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES components (digest),
    PRIMARY KEY (thread, plugin)
) STRICT, WITHOUT ROWID;
