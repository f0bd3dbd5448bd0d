-- 0009: what deleting a run asks of every value and component version it referred to:
-- "does anything else still refer to it?". Without these, each answer scans every state
-- write or pin of the database. Partial: only writes of large values (stored by digest)
-- are indexed, so the step path of small states writes no more pages than before.

CREATE INDEX state_writes_by_blob ON state_writes (blob) WHERE blob IS NOT NULL;
CREATE INDEX superseded_writes_by_blob ON superseded_writes (blob) WHERE blob IS NOT NULL;
CREATE INDEX run_plugins_by_digest ON run_plugins (digest);
