-- 0006: fencing tokens. A run's lease epoch grows every time its lease passes to another
-- owner (a claim by a process that did not hold it); nodes read it and pass it to outside
-- systems, which can then refuse the late writes of a process that lost the run.
ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0 CHECK (lease_epoch >= 0);
