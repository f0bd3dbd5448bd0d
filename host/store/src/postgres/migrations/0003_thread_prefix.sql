-- 0003: listings by thread prefix (`runs --thread`, `GET /runs?thread=`). A prefix is
-- a range of threads in byte order; the primary key's index is in the database's
-- collation, whose order is not bytes' unless it is "C", so a prefix gets an index of
-- its own in that order.
CREATE INDEX runs_by_thread_bytes ON runs (thread COLLATE "C");
