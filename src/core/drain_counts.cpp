// The outcome of one drain, as regen_drain() reports it.
#include "drain_counts.hpp"

namespace regen::core
{

std::string
drain_counts_json(const DrainCounts &counts)
{
    // Same spacing as PostgreSQL prints jsonb, so the text and its jsonb form read alike.
    std::string json = "{\"ok\": true, \"processedCount\": ";
    json += std::to_string(counts.processed);
    json += ", \"completedCount\": ";
    json += std::to_string(counts.completed);
    json += ", \"failedCount\": ";
    json += std::to_string(counts.failed);
    json += "}";
    return json;
}

} // namespace regen::core
