-- plain INSERT of the row regen_enqueue() writes, into a table with the same indexes.
INSERT INTO bench.jobs (job_type, plan_id, payload)
VALUES ('plan_regeneration', gen_random_uuid(), '{"overrides": {"topic": "Linear algebra"}}')
RETURNING id;
