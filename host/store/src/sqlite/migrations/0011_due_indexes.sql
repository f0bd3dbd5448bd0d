-- 0011: due-time indexes, so that the daemon's claims and its next wake-up touch only the
-- runs that are due (issue 17: 100,000 parked runs were scanned and sorted at every claim).
-- Parked runs by wake time: `next_wake` reads the first entry, a claim the range up to
-- now. They are partial, so a step that stays `running` writes no entry in them; their
-- entries change only when a run parks or wakes. `runs_by_wake` (status, wake_at) held
-- an entry for every run, rewritten at every step, and is replaced by them.
DROP INDEX runs_by_wake;
CREATE INDEX runs_parked_by_wake ON runs (wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted');
CREATE INDEX runs_parked_by_workflow ON runs (workflow_name, wake_at)
    WHERE status IN ('sleeping', 'retrying', 'interrupted');
-- Runnable runs of each workflow, oldest (created) first: a claim takes at most its batch
-- from the front of each workflow's range, then shares the slots among workflows over that
-- bounded set instead of sorting every runnable run. Keyed on the creation time, which
-- never changes, so that a step that stays `running` does not move its entry.
CREATE INDEX runs_ready_by_workflow ON runs (workflow_name, created_at)
    WHERE status IN ('pending', 'running');
-- Lease holders: the daemon reads them before every claim (to take over dead owners'
-- runs); without it that read scanned every run.
CREATE INDEX runs_by_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
