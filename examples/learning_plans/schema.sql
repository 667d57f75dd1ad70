-- Example application schema: learning plans, each made of modules made of tasks.
--
-- A plan is what a user asked for (topic, level, hours per week, dates); its modules and tasks
-- are derived from it and rebuilt by learning_plans.regenerate_plan (handler.sql) whenever a
-- regeneration job runs. Constraints mirror the override rules of regen_enqueue, field by field;
-- one rule spans two fields and is the handler's to check: a deadline before the start date
-- (from the overrides, the plan, or both) fails the job at once (RQ001).

CREATE SCHEMA learning_plans;

CREATE TABLE learning_plans.plans (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL,
    topic              text NOT NULL,
    notes              text,
    skill_level        text NOT NULL DEFAULT 'beginner',
    weekly_hours       integer NOT NULL DEFAULT 5,
    learning_style     text NOT NULL DEFAULT 'mixed',
    start_date         date,
    deadline_date      date,
    regenerated_at     timestamptz,
    regeneration_count integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT plans_topic_check
        CHECK (topic = btrim(topic) AND char_length(topic) BETWEEN 3 AND 200),
    CONSTRAINT plans_notes_check
        CHECK (notes = btrim(notes) AND char_length(notes) BETWEEN 1 AND 2000),
    CONSTRAINT plans_skill_level_check
        CHECK (skill_level IN ('beginner', 'intermediate', 'advanced')),
    CONSTRAINT plans_weekly_hours_check
        CHECK (weekly_hours BETWEEN 0 AND 80),
    CONSTRAINT plans_learning_style_check
        CHECK (learning_style IN ('reading', 'video', 'practice', 'mixed')),
    CONSTRAINT plans_dates_check
        CHECK (deadline_date >= start_date),
    CONSTRAINT plans_regeneration_count_check
        CHECK (regeneration_count >= 0)
);

CREATE INDEX plans_user_idx ON learning_plans.plans (user_id);

CREATE TABLE learning_plans.modules (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id           uuid NOT NULL REFERENCES learning_plans.plans (id) ON DELETE CASCADE,
    position          integer NOT NULL,
    title             text NOT NULL,
    starts_on         date NOT NULL,
    ends_on           date NOT NULL,
    estimated_minutes integer NOT NULL,

    CONSTRAINT modules_position_key UNIQUE (plan_id, position),
    CONSTRAINT modules_position_check CHECK (position >= 1),
    CONSTRAINT modules_title_check CHECK (title <> ''),
    CONSTRAINT modules_dates_check CHECK (ends_on >= starts_on),
    CONSTRAINT modules_estimated_minutes_check CHECK (estimated_minutes >= 0)
);

CREATE TABLE learning_plans.tasks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id         bigint NOT NULL REFERENCES learning_plans.modules (id) ON DELETE CASCADE,
    position          integer NOT NULL,
    title             text NOT NULL,
    due_on            date NOT NULL,
    estimated_minutes integer NOT NULL,
    completed_at      timestamptz,

    CONSTRAINT tasks_position_key UNIQUE (module_id, position),
    CONSTRAINT tasks_position_check CHECK (position >= 1),
    CONSTRAINT tasks_title_check CHECK (title <> ''),
    CONSTRAINT tasks_estimated_minutes_check CHECK (estimated_minutes > 0)
);

COMMENT ON TABLE learning_plans.plans IS
    'What a user asked to learn; modules and tasks are derived from it';
COMMENT ON TABLE learning_plans.modules IS
    'Consecutive stretches of a plan, rebuilt on every regeneration';
COMMENT ON TABLE learning_plans.tasks IS
    'Steps of a module, each due on a date inside it; rebuilt on every regeneration';
