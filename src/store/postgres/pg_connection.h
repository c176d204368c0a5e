// Connections to PostgreSQL for the store: one libpqxx connection that also exposes its libpq
// handle (for binary COPY and binary results, which libpqxx 6.4 lacks), and a small pool.
//
// The pool opens connections lazily, up to a fixed size; acquire() blocks while all are in use.
// A connection goes back to the pool when its Lease ends, unless it is broken or was left inside a
// transaction or a COPY, in which case it is closed and a new one is opened on a later acquire().
// libpqxx may transparently reconnect a broken connection; session state (settings, temporary
// tables) is then rebuilt, because PgConnection::generation() changes on every (re)connect.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "core/result.h"

namespace tickgraph::store::pg {

// "host:port/db" of a libpq URL or key=value string, for messages; never the password.
std::string describe_server(const std::string& conninfo);

// The connection policy of libpqxx's direct connection, remembering the libpq handle it made.
class HandleCapturingConnect : public pqxx::connect_direct {
 public:
  explicit HandleCapturingConnect(const std::string& options) : pqxx::connect_direct(options) {}
  handle do_startconnect(handle orig) override;
  handle do_completeconnect(handle orig) override;
  handle do_dropconnect(handle orig) noexcept override;
  handle do_disconnect(handle orig) noexcept override;

  PGconn* raw() const { return raw_; }
  std::uint64_t generation() const { return generation_; }

 private:
  PGconn* raw_ = nullptr;
  std::uint64_t generation_ = 0;
};

// A libpqxx connection (use it with pqxx::work etc.) that also hands out its libpq handle.
// Not thread-safe: one thread at a time, which the pool guarantees.
class PgConnection final : public pqxx::connection_base {
 public:
  // Connects at once; throws pqxx::broken_connection when it cannot.
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // The libpq handle of the current session (nullptr when closed). Valid until the connection
  // is closed or reconnected; use it only between libpqxx calls, never during a libpqxx stream.
  PGconn* raw() const { return policy_.raw(); }
  // Changes whenever libpqxx (re)connects: session state must then be set up again.
  std::uint64_t generation() const { return policy_.generation(); }
  // True when the session is connected, idle, and outside any transaction.
  bool reusable() const;

  // Session state kept by the store (reset on reconnect): which temporary tables exist.
  std::uint64_t session_generation = 0;
  unsigned session_flags = 0;

 private:
  HandleCapturingConnect policy_;
};

class ConnectionPool {
 public:
  // Opens the first connection at once (so that a bad URL fails here) and allows up to `size`.
  static Result<std::unique_ptr<ConnectionPool>> open(const std::string& conninfo,
                                                      std::size_t size);

  // A connection borrowed from the pool; returned (or closed, when not reusable) on destruction.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<PgConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<PgConnection> conn_;
  };

  // Blocks until a connection is free or a new one can be opened. Fails ("cannot connect: …",
  // libpq's reason) only when a new connection cannot be opened. Thread-safe.
  Result<Lease> acquire();
  // Closes the idle connections (e.g. after one was found broken: the server may have restarted).
  // Thread-safe.
  void drop_idle();

  const std::string& server() const { return server_; }  // "host:port/db"

 private:
  ConnectionPool(std::string conninfo, std::size_t size);
  void release(std::unique_ptr<PgConnection> conn);

  const std::string conninfo_;
  const std::string server_;
  const std::size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  std::size_t open_ = 0;                             // idle + leased + being opened; by mu_
};

}  // namespace tickgraph::store::pg
