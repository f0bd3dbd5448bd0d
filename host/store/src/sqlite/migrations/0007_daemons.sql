-- 0007: the `savepoint serve` daemons that serve this database. A daemon writes its row
-- when it starts, renews it while it runs (an idle daemon holds no run leases) and deletes
-- it when it stops; a row past its expiry, or of a process on this machine that is gone,
-- is a daemon that died. `savepoint start` reads it to say whether anyone will pick the
-- new run up, and `gc --vacuum` to refuse to stall a daemon's runs.
CREATE TABLE daemons (
    owner TEXT PRIMARY KEY,          -- host:pid:start_ms, as a lease owner
    started_at INTEGER NOT NULL,     -- ms since the epoch
    expires_at INTEGER NOT NULL      -- ms since the epoch: renewed every half lease
) WITHOUT ROWID;
