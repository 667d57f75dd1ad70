-- wrk script of bench/http_load.sh: drives one route of regen-queue-http and counts what came
-- back. Settings come from the environment (wrk hands its script no arguments in the main Lua
-- state, where done() runs):
--
--   RQ_LOAD_ROUTE    enqueue | drain
--   RQ_LOAD_TOKEN    the worker token, sent as "Authorization: Bearer <token>"
--   RQ_LOAD_ACTIVE_S seconds during which requests are sent; after that each connection falls
--                    idle once its answer is in, so that wrk (run for longer) stops with no
--                    request in flight and every request sent has been counted
--   RQ_LOAD_RUN      run number, 0-65535, the second group of the plan ids (enqueue)
--   RQ_LOAD_BODY     request body of the enqueue route
--   RQ_LOAD_OUT      file that done() writes its counts to, one "name value" per line
--
-- Plan ids of the enqueue route are <thread>-<run>-4000-8000-<counter of the thread>, in hex:
-- distinct threads, runs and counters, so that no two requests can ever send the same id.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } rq_load_timespec;
int clock_gettime(int clock_id, rq_load_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("rq_load_timespec")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
    return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local ENQUEUE_PREFIX = "/api/v1/plans/"
local ENQUEUE_SUFFIX = "/regenerate"
local DRAIN_PATH = "/api/internal/jobs/regeneration/process"
local IDLE_MS = 3600 * 1000

-- Main state: the threads, so that done() can add up their counts.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_number", #threads)
end

-- Thread states: what each thread counts.
sent = 0            -- requests sent (see request())
plans = 0           -- plan ids handed out
waited = false      -- delay() has been called: wrk's event loop is running
answered = 0
statuses = {}
processed = 0       -- sum of processedCount over the drain route's 200 answers
completed = 0       -- sum of completedCount
failed = 0          -- sum of failedCount
unreadable = 0      -- 2xx answers whose body is not what the route answers
first_sent_ms = nil
last_answer_ms = nil

local route, run, headers, body, deadline_ms

function init(args)
    route = os.getenv("RQ_LOAD_ROUTE")
    run = tonumber(os.getenv("RQ_LOAD_RUN") or "0")
    headers = {["Authorization"] = "Bearer " .. os.getenv("RQ_LOAD_TOKEN")}
    if route == "enqueue" then
        headers["Content-Type"] = "application/json"
        body = os.getenv("RQ_LOAD_BODY") or ""
    else
        body = ""
    end
    deadline_ms = now_ms() + tonumber(os.getenv("RQ_LOAD_ACTIVE_S")) * 1000
end

function delay()
    waited = true
    if now_ms() >= deadline_ms then
        return IDLE_MS
    end
    return 0
end

-- wrk calls request() once more in the first thread before its event loop starts, to look at
-- the request, and never sends that one; with delay() defined, every request it does send
-- comes after a delay() call, which tells the two apart.
function request()
    if waited then
        sent = sent + 1
        first_sent_ms = first_sent_ms or now_ms()
    end
    local path = DRAIN_PATH
    if route == "enqueue" then
        plans = plans + 1
        local plan_id = string.format("%08x-%04x-4000-8000-%012x", thread_number, run, plans)
        path = ENQUEUE_PREFIX .. plan_id .. ENQUEUE_SUFFIX
    end
    return wrk.format("POST", path, headers, body)
end

local function add_count(name, text)
    local value = tonumber(text)
    if value == nil then
        return false
    end
    _G[name] = _G[name] + value
    return true
end

function response(status, response_headers, response_body)
    answered = answered + 1
    last_answer_ms = now_ms()
    statuses[status] = (statuses[status] or 0) + 1

    if route == "drain" and status == 200 then
        local ok = add_count("processed", response_body:match('"processedCount"%s*:%s*(%d+)'))
        ok = add_count("completed", response_body:match('"completedCount"%s*:%s*(%d+)')) and ok
        ok = add_count("failed", response_body:match('"failedCount"%s*:%s*(%d+)')) and ok
        if not ok then
            unreadable = unreadable + 1
        end
    elseif route == "enqueue" and status == 202 then
        if not response_body:match('"jobId"%s*:%s*"[0-9a-f-]+"') or
           not response_body:match('"status"%s*:%s*"pending"') then
            unreadable = unreadable + 1
        end
    end
end

function done(summary, latency, requests)
    local totals = {sent = 0, answered = 0, processed = 0, completed = 0, failed = 0,
                    unreadable = 0}
    local statuses_seen = {}
    local first, last

    for _, thread in ipairs(threads) do
        for name, _ in pairs(totals) do
            totals[name] = totals[name] + thread:get(name)
        end
        for status, count in pairs(thread:get("statuses")) do
            statuses_seen[status] = (statuses_seen[status] or 0) + count
        end
        local thread_first, thread_last = thread:get("first_sent_ms"), thread:get("last_answer_ms")
        if thread_first and (first == nil or thread_first < first) then
            first = thread_first
        end
        if thread_last and (last == nil or thread_last > last) then
            last = thread_last
        end
    end

    local out = assert(io.open(os.getenv("RQ_LOAD_OUT"), "w"))
    for name, value in pairs(totals) do
        out:write(string.format("%s %.0f\n", name, value))
    end
    local non_2xx = 0
    for status, count in pairs(statuses_seen) do
        out:write(string.format("status_%d %.0f\n", status, count))
        if status < 200 or status > 299 then
            non_2xx = non_2xx + count
        end
    end
    out:write(string.format("non_2xx %.0f\n", non_2xx))
    out:write(string.format("wrk_requests %.0f\n", summary.requests))
    out:write(string.format("errors_connect %.0f\n", summary.errors.connect))
    out:write(string.format("errors_read %.0f\n", summary.errors.read))
    out:write(string.format("errors_write %.0f\n", summary.errors.write))
    out:write(string.format("errors_timeout %.0f\n", summary.errors.timeout))
    out:write(string.format("errors_status %.0f\n", summary.errors.status))
    -- The window from the first request sent to the last answer received, over all threads:
    -- the rate is over the time requests were being sent, not wrk's idle tail.
    out:write(string.format("window_ms %.3f\n", (first and last) and (last - first) or 0))
    out:write(string.format("latency_p50_us %.0f\n", latency:percentile(50)))
    out:write(string.format("latency_p99_us %.0f\n", latency:percentile(99)))
    out:write(string.format("latency_max_us %.0f\n", latency.max))
    out:write(string.format("latency_mean_us %.1f\n", latency.mean))
    out:close()
end
