// The shim's way to the database: a bounded pool of libpq connections and the few statements
// the routes run, each prepared once per connection.
#pragma once

#include "answer.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace regen::shim
{

// The outcome of one statement: its first row as text, or the error.
struct SqlResult
{
    bool ok = false;
    std::vector<std::string> row; // empty when the statement returned no row
    SqlError error;
};

class Database
{
  public:
    // What a connection is for: the POST routes share the pool; /healthz and /metrics have a
    // connection of their own, so that long drains holding every pooled one do not make a
    // liveness probe fail.
    enum class Use
    {
        Route,
        Monitor,
    };

    Database(std::string conninfo, int size, std::chrono::seconds acquire_timeout);
    ~Database();
    Database(const Database &) = delete;
    Database &operator=(const Database &) = delete;

    // A connection of the pool for one request; returned to it when destroyed.
    class Lease
    {
      public:
        Lease(Database *pool, int slot) : pool_(pool), slot_(slot) {}
        Lease(Lease &&other) noexcept;
        Lease(const Lease &) = delete;
        ~Lease();

        // regen_queue.http_check_token() with the SHA-256 digest of token (null: none
        // presented); the row is "t" or "f".
        SqlResult check_token(const std::string *token);
        // regen_enqueue() with the overrides of body; user_id may be null.
        SqlResult enqueue(const std::string &plan_id, const std::string &body,
                          const std::string *user_id);
        // regen_drain(): the counts as JSON, then processed, completed, failed.
        SqlResult drain();
        // One row of regen_stats().
        SqlResult stats();
        SqlResult ping();

      private:
        SqlResult run(const char *statement, int count, const char *const *values);

        Database *pool_;
        int slot_;
        bool used_ = false; // a statement has run on this lease
        bool drop_ = false; // the connection must not be used again
    };

    // A live connection, or nothing: busy is set when none was free within the timeout,
    // otherwise connecting failed (the reason is logged).
    std::optional<Lease> acquire(bool &busy, Use use = Use::Route);

    // Ask the server to cancel the statements of every connection in use (at shutdown).
    void cancel_in_use();

    // For a first line in the log at start: connect one connection and say what it found.
    void check_at_start();

  private:
    PGconn *connect();
    bool prepare(PGconn *conn, std::string &error);
    void replace(int slot, PGconn *conn);
    void release(int slot);

    std::string conninfo_;
    std::chrono::seconds acquire_timeout_;
    std::mutex mutex_;
    std::condition_variable freed_;
    // One slot per pooled connection, and the last one for monitoring. A connection is used
    // only by the thread holding its slot; the cancel objects are read under mutex_.
    std::vector<PGconn *> connections_; // nullptr: not connected yet, or dropped
    std::vector<PGcancel *> cancels_;
    std::vector<bool> in_use_;
    std::list<std::uint64_t> waiting_; // tickets of requests waiting for a pooled connection
    std::uint64_t next_ticket_ = 0;
};

} // namespace regen::shim
