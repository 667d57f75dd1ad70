-- regen_enqueue(): one job per transaction, as an application queues them.
SELECT id FROM regen_enqueue(gen_random_uuid(), '{"topic": "Linear algebra"}');
