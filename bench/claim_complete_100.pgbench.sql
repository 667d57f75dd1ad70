-- The single-statement limit: claim and complete 100 due pending rows of bench.jobs in one
-- statement, in the claim order of regen_queue (the order of its partial claim index).
WITH c AS (
    SELECT id FROM bench.jobs
     WHERE status = 'pending' AND scheduled_for <= now()
     ORDER BY -priority, created_at, id
     LIMIT 100
       FOR UPDATE SKIP LOCKED)
UPDATE bench.jobs j
   SET status = 'completed', attempts = j.attempts + 1, result = '{}',
       started_at = now(), completed_at = now(), updated_at = now()
  FROM c
 WHERE j.id = c.id;
