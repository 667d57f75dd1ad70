-- The "plan_regeneration" handler of the learning_plans example (schema.sql first).
--
-- regen_queue calls learning_plans.regenerate_plan(job) for each claimed job; what it returns
-- becomes the job's result, and its writes commit together with the job's completion. Raising
-- RQ001 fails the job at once; any other error of class 22, 42 or 0A000 is permanent as well,
-- the rest is retried with backoff.
--
-- The rebuild is a pure function of the plan's fields after the overrides are merged: the same
-- plan and overrides always give the same modules, tasks, titles and dates.

-- Title of module MODULE_NO out of MODULE_COUNT: first foundations, last a capstone, and a
-- rotation of subjects in between.
CREATE FUNCTION learning_plans.module_title(topic text, module_no integer, module_count integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN module_no = 1 THEN format('Foundations of %s', topic)
    WHEN module_no = module_count THEN format('Capstone project in %s', topic)
    ELSE format((ARRAY['Core ideas of %s', 'Working with %s', 'Common patterns in %s',
                       'Going deeper into %s', 'Troubleshooting %s', 'Real-world %s'])
                    [(module_no - 2) % 6 + 1], topic)
END;

-- Title of task TASK_NO out of TASK_COUNT in a module; the verb follows the learning style,
-- and a mixed style alternates between all of them.
CREATE FUNCTION learning_plans.task_title(module_title text, learning_style text,
                                          task_no integer, task_count integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN format('%s: %s (%s/%s)',
              CASE learning_style
                  WHEN 'reading' THEN 'Read'
                  WHEN 'video' THEN 'Watch'
                  WHEN 'practice' THEN 'Practise'
                  ELSE (ARRAY['Read', 'Watch', 'Practise', 'Reflect'])[(task_no - 1) % 4 + 1]
              END,
              module_title, task_no, task_count);

CREATE FUNCTION learning_plans.regenerate_plan(job regen_queue.job_queue)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ov               jsonb := coalesce(job.payload -> 'overrides', '{}');
    p                learning_plans.plans;
    level_rank       integer;
    module_count     integer;
    tasks_per_module integer;
    first_day        date;
    last_day         date;
    span_days        integer;
    task_minutes     integer;
BEGIN
    SELECT * INTO p FROM learning_plans.plans WHERE id = job.plan_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'plan % does not exist', job.plan_id
            USING ERRCODE = 'RQ001',
                  DETAIL = 'The plan was deleted, or never existed; retrying cannot help.';
    END IF;

    -- Overrides win over the plan's own fields. regen_enqueue has already validated and
    -- normalised them; a JSON null clears the nullable fields (notes and the two dates).
    p.topic := coalesce(ov ->> 'topic', p.topic);
    p.skill_level := coalesce(ov ->> 'skillLevel', p.skill_level);
    p.weekly_hours := coalesce((ov ->> 'weeklyHours')::integer, p.weekly_hours);
    p.learning_style := coalesce(ov ->> 'learningStyle', p.learning_style);
    IF ov ? 'notes' THEN
        p.notes := ov ->> 'notes';
    END IF;
    IF ov ? 'startDate' THEN
        p.start_date := (ov ->> 'startDate')::date;
    END IF;
    IF ov ? 'deadlineDate' THEN
        p.deadline_date := (ov ->> 'deadlineDate')::date;
    END IF;

    -- Each date is valid alone, but the pair may not be; no retry can fix that.
    IF p.deadline_date < p.start_date THEN
        RAISE EXCEPTION 'plan % would end before it starts', p.id
            USING ERRCODE = 'RQ001',
                  DETAIL = format('The deadline %s is before the start date %s.',
                                  p.deadline_date, p.start_date);
    END IF;

    -- Shape of the plan.
    --   modules          = 2 + level rank + weekly_hours / 8, at most 12
    --   tasks per module = 2 + weekly_hours / 6, plus 1 for beginners, at most 8
    -- with level rank 0 (beginner), 1 (intermediate) or 2 (advanced) and integer division:
    -- more hours per week fit more material, an advanced learner covers more ground, and a
    -- beginner gets the same ground in smaller steps.
    level_rank := CASE p.skill_level WHEN 'beginner' THEN 0 WHEN 'intermediate' THEN 1 ELSE 2 END;
    module_count := least(12, 2 + level_rank + p.weekly_hours / 8);
    tasks_per_module := least(8, 2 + p.weekly_hours / 6 + CASE level_rank WHEN 0 THEN 1 ELSE 0 END);

    -- Span of the plan. Without a start date it starts on the day it was created (in UTC, so
    -- the server's time zone cannot change the result), but never after its deadline; without
    -- a deadline it lasts two weeks per module.
    first_day := coalesce(p.start_date,
                          least((p.created_at AT TIME ZONE 'UTC')::date, p.deadline_date));
    last_day := coalesce(p.deadline_date, first_day + 14 * module_count);
    span_days := last_day - first_day;

    -- The weekly hours over the whole span, shared evenly by the tasks, in 5-minute steps and
    -- never under 15 minutes.
    task_minutes := greatest(15, (p.weekly_hours * 60 * ceil((span_days + 1) / 7.0)::integer
                                  / (module_count * tasks_per_module)) / 5 * 5);

    UPDATE learning_plans.plans
       SET topic = p.topic, notes = p.notes, skill_level = p.skill_level,
           weekly_hours = p.weekly_hours, learning_style = p.learning_style,
           start_date = p.start_date, deadline_date = p.deadline_date,
           regenerated_at = now(), regeneration_count = regeneration_count + 1,
           updated_at = now()
     WHERE id = p.id;

    DELETE FROM learning_plans.modules WHERE plan_id = p.id;

    -- Module i of n covers days [span * (i-1) / n, span * i / n) of the plan and the last one
    -- ends on the deadline; task j of m is due j/m of the way through its module.
    WITH new_module AS (
        INSERT INTO learning_plans.modules AS m
               (plan_id, position, title, starts_on, ends_on, estimated_minutes)
        SELECT p.id, i, learning_plans.module_title(p.topic, i, module_count),
               d.starts_on,
               CASE WHEN i = module_count THEN last_day
                    ELSE greatest(d.starts_on, first_day + span_days * i / module_count - 1)
               END,
               tasks_per_module * task_minutes
          FROM generate_series(1, module_count) AS i
         CROSS JOIN LATERAL (SELECT first_day + span_days * (i - 1) / module_count) AS d(starts_on)
        RETURNING m.id, m.title, m.starts_on, m.ends_on)
    INSERT INTO learning_plans.tasks (module_id, position, title, due_on, estimated_minutes)
    SELECT nm.id, j, learning_plans.task_title(nm.title, p.learning_style, j, tasks_per_module),
           nm.starts_on + (nm.ends_on - nm.starts_on) * j / tasks_per_module,
           task_minutes
      FROM new_module AS nm
     CROSS JOIN generate_series(1, tasks_per_module) AS j;

    RETURN jsonb_build_object(
        'planId', p.id,
        'modules', module_count,
        'tasks', module_count * tasks_per_module,
        'startsOn', first_day,
        'endsOn', last_day,
        'spanDays', span_days);
END
$$;

COMMENT ON FUNCTION learning_plans.regenerate_plan(regen_queue.job_queue) IS
    'Handler of "plan_regeneration" jobs: merge the overrides and rebuild modules and tasks';

SELECT regen_register_handler('plan_regeneration',
                              'learning_plans.regenerate_plan(regen_queue.job_queue)');
