#include "database.hpp"

#include "log.hpp"

#include "../core/http_call.hpp"

#include <openssl/sha.h>
#include <poll.h>

#include <cstring>

namespace regen::shim
{

namespace
{

// Statements prepared on every connection; %1$s is the schema of the API functions.
struct Statement
{
    const char *name;
    const char *text;
};

constexpr Statement kStatements[] = {
    {"check_token", "SELECT regen_queue.http_check_token($1::bytea)"},
    {"enqueue", "SELECT j.id::text, j.plan_id::text, j.status::text"
                "  FROM %1$s.regen_enqueue(plan_id => $1::uuid,"
                "                          overrides => regen_queue.http_request_overrides($2),"
                "                          user_id => $3::uuid) AS j"},
    {"drain", "SELECT d::text, d->>'processedCount', d->>'completedCount', d->>'failedCount'"
              "  FROM %1$s.regen_drain() AS d"},
    {"stats", "SELECT pending, due, processing, completed, failed,"
              "       coalesce(extract(epoch FROM oldest_pending_age), 0), expired_leases,"
              "       failed_last_hour"
              "  FROM %1$s.regen_stats()"},
    {"ping", "SELECT 1"},
};

// Where regen_queue's API functions are, and whether its version has the HTTP functions.
constexpr const char *kFindExtension =
    "SELECT n.nspname, e.extversion"
    "  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'regen_queue'";

std::string
field(const PGresult *result, int code)
{
    const char *value = PQresultErrorField(result, code);
    return value != nullptr ? value : "";
}

// Whether an idle connection is still there: a server that restarted or ended the session
// has sent its last words and closed the socket, which makes it readable.
bool
still_connected(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
        return false;

    struct pollfd socket = {PQsocket(conn), POLLIN, 0};
    int ready = poll(&socket, 1, 0);
    if (ready == 0)
        return true;
    // A server that went away sent an error and then closed: read until the close shows.
    for (int reads = 0; ready > 0 && reads < 4; reads++)
    {
        if (!PQconsumeInput(conn))
            return false;
        ready = poll(&socket, 1, 0);
    }

    // What else arrives while idle (a parameter status, a notice) is fine when the connection
    // survived it.
    return ready == 0 && PQstatus(conn) == CONNECTION_OK;
}

// Keep libpq's notices (a WARNING from the server) out of standard error, where they would
// look like the shim's own lines.
void
ignore_notice(void *, const PGresult *)
{
}

} // namespace

Database::Database(std::string conninfo, int size, std::chrono::seconds acquire_timeout)
    : conninfo_(std::move(conninfo)), acquire_timeout_(acquire_timeout),
      connections_(size + 1, nullptr), cancels_(size + 1, nullptr), in_use_(size + 1, false)
{
}

Database::~Database()
{
    for (std::size_t slot = 0; slot < connections_.size(); slot++)
        replace(static_cast<int>(slot), nullptr);
}

// Put conn (or nothing) in a slot, closing what was there.
void
Database::replace(int slot, PGconn *conn)
{
    PGcancel *cancel = conn != nullptr ? PQgetCancel(conn) : nullptr;
    PGconn *old_conn = nullptr;
    PGcancel *old_cancel = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        old_conn = connections_[slot];
        old_cancel = cancels_[slot];
        connections_[slot] = conn;
        cancels_[slot] = cancel;
    }
    if (old_cancel != nullptr)
        PQfreeCancel(old_cancel);
    if (old_conn != nullptr)
        PQfinish(old_conn);
}

void
Database::cancel_in_use()
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t slot = 0; slot < cancels_.size(); slot++)
        if (in_use_[slot] && cancels_[slot] != nullptr)
        {
            char error[256];
            PQcancel(cancels_[slot], error, sizeof error);
        }
}

PGconn *
Database::connect()
{
    // The caller's connection string comes last, so that it wins over these defaults. Bodies
    // are JSON, which is UTF-8.
    std::vector<const char *> keywords = {"application_name", "connect_timeout", "client_encoding"};
    std::vector<const char *> values = {"regen-queue-http", "5", "UTF8"};
    if (!conninfo_.empty())
    {
        keywords.push_back("dbname");
        values.push_back(conninfo_.c_str());
    }
    keywords.push_back(nullptr);
    values.push_back(nullptr);

    PGconn *conn = PQconnectdbParams(keywords.data(), values.data(), 1);
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK)
        error = PQerrorMessage(conn);
    else if (!prepare(conn, error))
        ;
    else
    {
        PQsetNoticeReceiver(conn, ignore_notice, nullptr);
        return conn;
    }

    while (!error.empty() && (error.back() == '\n' || error.back() == ' '))
        error.pop_back();
    log_line("cannot use the database: %s", error.c_str());
    PQfinish(conn);
    return nullptr;
}

bool
Database::prepare(PGconn *conn, std::string &error)
{
    PGresult *found = PQexec(conn, kFindExtension);
    if (PQresultStatus(found) != PGRES_TUPLES_OK || PQntuples(found) != 1)
    {
        error = PQresultStatus(found) != PGRES_TUPLES_OK
                    ? std::string(PQresultErrorMessage(found))
                    : "extension regen_queue is not installed in database \"" +
                          std::string(PQdb(conn)) + "\"";
        PQclear(found);
        return false;
    }
    std::string version = PQgetvalue(found, 0, 1);
    char *schema =
        PQescapeIdentifier(conn, PQgetvalue(found, 0, 0), std::strlen(PQgetvalue(found, 0, 0)));
    PQclear(found);
    if (version == "1.0")
    {
        PQfreemem(schema);
        error = "regen_queue 1.0 has no HTTP functions: run ALTER EXTENSION regen_queue UPDATE";
        return false;
    }

    bool ok = true;
    for (const Statement &statement : kStatements)
    {
        char text[1024];
        std::snprintf(text, sizeof text, statement.text, schema);
        PGresult *prepared = PQprepare(conn, statement.name, text, 0, nullptr);
        if (PQresultStatus(prepared) != PGRES_COMMAND_OK)
        {
            error = std::string("cannot prepare ") + statement.name + ": " +
                    PQresultErrorMessage(prepared);
            ok = false;
        }
        PQclear(prepared);
        if (!ok)
            break;
    }
    PQfreemem(schema);
    return ok;
}

std::optional<Database::Lease>
Database::acquire(bool &busy, Use use)
{
    const int monitor_slot = static_cast<int>(connections_.size()) - 1;
    int slot = -1;
    busy = false;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        auto free_slot = [&]
        {
            int first = use == Use::Monitor ? monitor_slot : 0;
            int last = use == Use::Monitor ? monitor_slot : monitor_slot - 1;
            for (int i = first; i <= last; i++)
                if (!in_use_[i])
                {
                    slot = i;
                    return true;
                }
            return false;
        };
        // Requests take pooled connections in the order they asked: with more clients than
        // connections, whoever is woken first would otherwise win, and an unlucky one could
        // wait out --pool-timeout while later ones are served.
        std::uint64_t ticket = next_ticket_++;
        if (use == Use::Route)
            waiting_.push_back(ticket);
        auto my_turn = [&]
        { return (use == Use::Monitor || waiting_.front() == ticket) && free_slot(); };
        bool got = freed_.wait_for(lock, acquire_timeout_, my_turn);
        if (use == Use::Route)
            waiting_.remove(ticket);
        if (!got)
        {
            freed_.notify_all(); // the next in line may be able to go now
            busy = true;
            return std::nullopt;
        }
        in_use_[slot] = true;
    }
    freed_.notify_all(); // the next in line may find another free connection

    // Connecting happens outside the lock: the slot is ours.
    if (connections_[slot] != nullptr && !still_connected(connections_[slot]))
        replace(slot, nullptr);
    if (connections_[slot] == nullptr)
        replace(slot, connect());
    if (connections_[slot] == nullptr)
    {
        release(slot);
        return std::nullopt;
    }
    return Lease(this, slot);
}

void
Database::release(int slot)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        in_use_[slot] = false;
    }
    // Waiters for the monitoring slot and for the others share the condition.
    freed_.notify_all();
}

void
Database::check_at_start()
{
    bool busy = false;
    std::optional<Lease> lease = acquire(busy);
    if (lease)
        log_line("connected to the database; regen_queue is installed");
}

Database::Lease::Lease(Lease &&other) noexcept : pool_(other.pool_), slot_(other.slot_)
{
    other.pool_ = nullptr;
}

Database::Lease::~Lease()
{
    if (pool_ == nullptr)
        return;

    // A connection that broke, that a statement left inside a transaction, or whose prepared
    // statements no longer fit the database (the extension was dropped and created again, in
    // another schema or version) is not reused; the next lease connects and prepares anew.
    PGconn *conn = pool_->connections_[slot_];
    if (conn != nullptr &&
        (drop_ || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE))
        pool_->replace(slot_, nullptr);
    pool_->release(slot_);
}

namespace
{

// SQLSTATEs after which a connection's prepared statements may be what is wrong.
bool
stale_statements(const std::string &sqlstate)
{
    return sqlstate == "42883" || sqlstate == "3F000" || sqlstate == "26000" ||
           sqlstate == "0A000" || sqlstate == "42P01" || sqlstate == "42704";
}

} // namespace

SqlResult
Database::Lease::run(const char *statement, int count, const char *const *values)
{
    SqlResult outcome;
    PGconn *conn = pool_->connections_[slot_];
    PGresult *result = PQexecPrepared(conn, statement, count, values, nullptr, nullptr, 0);

    // The first statement of a lease may find that the server went away since the connection
    // was last used (a restart the idle check did not see yet). Nothing of it ran, so it runs
    // again once on a new connection; later statements are never repeated.
    if (!used_ && PQresultStatus(result) != PGRES_TUPLES_OK && PQstatus(conn) != CONNECTION_OK)
    {
        PQclear(result);
        pool_->replace(slot_, pool_->connect());
        conn = pool_->connections_[slot_];
        if (conn == nullptr)
        {
            used_ = true;
            outcome.error.message = "cannot connect to the database";
            return outcome;
        }
        result = PQexecPrepared(conn, statement, count, values, nullptr, nullptr, 0);
    }
    used_ = true;

    if (PQresultStatus(result) == PGRES_TUPLES_OK)
    {
        outcome.ok = true;
        if (PQntuples(result) > 0)
            for (int column = 0; column < PQnfields(result); column++)
                outcome.row.emplace_back(PQgetvalue(result, 0, column));
    }
    else
    {
        outcome.error.sqlstate = field(result, PG_DIAG_SQLSTATE);
        outcome.error.message = field(result, PG_DIAG_MESSAGE_PRIMARY);
        outcome.error.detail = field(result, PG_DIAG_MESSAGE_DETAIL);
        outcome.error.field = field(result, PG_DIAG_COLUMN_NAME);
        if (outcome.error.message.empty())
            outcome.error.message = PQerrorMessage(conn);
        // libpq's own failures (the connection broke) carry no SQLSTATE from the server.
        if (PQstatus(conn) != CONNECTION_OK)
            outcome.error.sqlstate.clear();
        drop_ = stale_statements(outcome.error.sqlstate);
    }
    PQclear(result);
    return outcome;
}

SqlResult
Database::Lease::check_token(const std::string *token)
{
    // The digest, never the token, goes to the server: statements and their parameters may
    // be logged there.
    std::string digest;
    if (token != nullptr)
    {
        unsigned char bytes[SHA256_DIGEST_LENGTH];
        SHA256(reinterpret_cast<const unsigned char *>(token->data()), token->size(), bytes);
        digest = "\\x" + core::lower_hex(bytes, sizeof bytes);
    }
    const char *values[] = {token != nullptr ? digest.c_str() : nullptr};
    return run("check_token", 1, values);
}

SqlResult
Database::Lease::enqueue(const std::string &plan_id, const std::string &body,
                         const std::string *user_id)
{
    const char *values[] = {plan_id.c_str(), body.c_str(),
                            user_id != nullptr ? user_id->c_str() : nullptr};
    return run("enqueue", 3, values);
}

SqlResult
Database::Lease::drain()
{
    return run("drain", 0, nullptr);
}

SqlResult
Database::Lease::stats()
{
    return run("stats", 0, nullptr);
}

SqlResult
Database::Lease::ping()
{
    return run("ping", 0, nullptr);
}

} // namespace regen::shim
