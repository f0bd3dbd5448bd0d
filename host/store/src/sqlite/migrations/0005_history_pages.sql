-- 0005: history read in pages. A page of history lists the keys each of its steps wrote;
-- without this index, finding one step's writes scans every write of the run (the primary
-- key starts with the key), which makes reading a long run's history page by page
-- quadratic in its length.

CREATE INDEX state_writes_by_step ON state_writes (thread, step);
