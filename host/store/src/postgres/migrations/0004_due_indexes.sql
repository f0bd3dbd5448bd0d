-- 0004: due-time indexes, so that a claim and the next wake-up touch only the runs that
-- are due (issue 17: 100,000 parked runs were scanned and sorted at every claim). They
-- are partial: a step that stays `running` writes no entry in the parked ones. They
-- replace `runs_by_status` (status, wake_at), which every step rewrote.
DROP INDEX runs_by_status;
-- Parked runs by wake time: `next_wake` reads the first entry, a claim the range up to now.
CREATE INDEX runs_parked_by_wake ON runs (wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted');
CREATE INDEX runs_parked_by_workflow ON runs (workflow_name, wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted');
-- Runnable runs of each workflow, oldest (created) first: a claim reads at most its batch
-- from the front of each workflow's range and shares the slots among workflows over that
-- bounded set, instead of ranking every runnable run. Keyed on the creation time, which
-- never changes.
CREATE INDEX runs_ready_by_workflow ON runs (workflow_name, created_at)
    WHERE status IN ('pending', 'running');
