#include "dispatcher.hpp"

#include <algorithm>

namespace regen::http
{

Dispatcher::Dispatcher() = default;
Dispatcher::~Dispatcher() = default;

void
Dispatcher::configure(const DispatchSettings &settings)
{
    settings_ = settings;
    settings_.concurrency = std::max<std::size_t>(1, settings_.concurrency);
}

void
Dispatcher::add(JobCall job)
{
    waiting_.push_back(Waiting{std::move(job), false});
}

void
Dispatcher::commit()
{
    for (Waiting &entry : waiting_)
        entry.committed = true;
}

bool
Dispatcher::type_has_room(const JobCall &job) const
{
    if (job.max_concurrency <= 0)
        return true;
    auto found = in_flight_by_type_.find(job.job_type);
    return found == in_flight_by_type_.end() || found->second < job.max_concurrency;
}

void
Dispatcher::start_ready(std::time_t now, std::vector<FinishedCall> &finished)
{
    if (caller_ == nullptr)
        caller_ = std::make_unique<Caller>(settings_.concurrency, settings_.max_response_bytes);
    else
        caller_->set_limits(settings_.concurrency, settings_.max_response_bytes);

    for (auto it = waiting_.begin(); it != waiting_.end() && !caller_->full();)
    {
        if (!it->committed || !type_has_room(it->job))
        {
            ++it;
            continue;
        }
        JobCall job = std::move(it->job);
        it = waiting_.erase(it);

        const std::string &url = job.endpoint.empty() ? settings_.default_endpoint : job.endpoint;
        std::string why = url.empty() ? "" : endpoint_problem(url);
        if (url.empty() || !why.empty())
        {
            FinishedCall refused;
            refused.decision.verdict = core::Verdict::Fail;
            refused.decision.error =
                url.empty() ? "no endpoint: the handler has none and regen_queue.http_endpoint "
                              "is empty"
                            : "endpoint not acceptable: " + why;
            refused.job = std::move(job);
            finished.push_back(std::move(refused));
            continue;
        }

        CallRequest request;
        request.tag = next_tag_++;
        request.url = url;
        request.body = job.body;
        request.headers = signature_headers(settings_.secret, now, url, job.body);
        request.timeout_ms = job.timeout_ms > 0 ? job.timeout_ms : settings_.default_timeout_ms;
        caller_->start(request);
        in_flight_by_type_[job.job_type]++;
        in_flight_.emplace(request.tag, std::move(job));
    }
}

std::vector<FinishedCall>
Dispatcher::progress(int wait_ms, std::time_t now)
{
    std::vector<FinishedCall> finished;
    start_ready(now, finished);
    if (!finished.empty())
        wait_ms = 0;

    for (CallResult &result : caller_->progress(wait_ms))
    {
        auto found = in_flight_.find(result.tag);
        if (found == in_flight_.end())
            continue;
        FinishedCall done;
        done.job = std::move(found->second);
        in_flight_.erase(found);
        if (--in_flight_by_type_[done.job.job_type] <= 0)
            in_flight_by_type_.erase(done.job.job_type);

        done.decision = core::decide_call(result.outcome(), now);
        done.status = result.transport == core::Transport::Answered ? result.status : 0;
        done.elapsed_s = result.elapsed_s;
        done.body = std::move(result.body);
        finished.push_back(std::move(done));
    }
    return finished;
}

std::vector<JobId>
Dispatcher::job_ids() const
{
    std::vector<JobId> ids;
    ids.reserve(waiting_.size() + in_flight_.size());
    for (const Waiting &entry : waiting_)
        ids.push_back(entry.job.id);
    for (const auto &entry : in_flight_)
        ids.push_back(entry.second.id);
    return ids;
}

std::vector<JobCall>
Dispatcher::drop_waiting()
{
    std::vector<JobCall> jobs;
    for (Waiting &entry : waiting_)
        jobs.push_back(std::move(entry.job));
    waiting_.clear();
    return jobs;
}

std::vector<JobCall>
Dispatcher::drop_in_flight()
{
    std::vector<JobCall> jobs;
    if (caller_ != nullptr)
        caller_->abandon_all();
    for (auto &entry : in_flight_)
        jobs.push_back(std::move(entry.second));
    in_flight_.clear();
    in_flight_by_type_.clear();
    return jobs;
}

} // namespace regen::http
