#include "store/postgres/pg_connection.h"

#include <exception>
#include <utility>

namespace tickgraph::store::pg {

std::string describe_server(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    if (err != nullptr) PQfreemem(err);
    return "<unparsable connection string>";
  }
  std::string host, hostaddr, port, db, user;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    if (key == "host") host = o->val;
    if (key == "hostaddr") hostaddr = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") db = o->val;
    if (key == "user") user = o->val;
  }
  PQconninfoFree(options);
  if (host.empty()) host = hostaddr.empty() ? "localhost" : hostaddr;
  if (port.empty()) port = "5432";
  if (db.empty()) db = user;
  return host + ":" + port + "/" + db;
}

HandleCapturingConnect::handle HandleCapturingConnect::do_startconnect(handle orig) {
  raw_ = pqxx::connect_direct::do_startconnect(orig);
  return raw_;
}

HandleCapturingConnect::handle HandleCapturingConnect::do_completeconnect(handle orig) {
  raw_ = pqxx::connect_direct::do_completeconnect(orig);
  ++generation_;
  return raw_;
}

HandleCapturingConnect::handle HandleCapturingConnect::do_dropconnect(handle orig) noexcept {
  raw_ = pqxx::connect_direct::do_dropconnect(orig);
  return raw_;
}

HandleCapturingConnect::handle HandleCapturingConnect::do_disconnect(handle orig) noexcept {
  raw_ = pqxx::connect_direct::do_disconnect(orig);
  return raw_;
}

// The base class keeps a reference to policy_, which is constructed after it: the same order
// libpqxx's own basic_connection_base uses; init() connects once both exist.
PgConnection::PgConnection(const std::string& conninfo)
    : pqxx::connection_base(policy_), policy_(conninfo) {
  init();
}

PgConnection::~PgConnection() { close(); }

bool PgConnection::reusable() const {
  PGconn* conn = raw();
  return conn != nullptr && PQstatus(conn) == CONNECTION_OK &&
         PQtransactionStatus(conn) == PQTRANS_IDLE;
}

ConnectionPool::ConnectionPool(std::string conninfo, std::size_t size)
    : conninfo_(std::move(conninfo)), server_(describe_server(conninfo_)), size_(size) {}

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::open(const std::string& conninfo,
                                                             std::size_t size) {
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool(conninfo, size < 1 ? 1 : size));
  Result<Lease> first = pool->acquire();
  if (!first.ok()) return first.status();
  return pool;
}

Result<ConnectionPool::Lease> ConnectionPool::acquire() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;
  }
  // Connect outside the lock: it takes a network round trip or more.
  std::string failure;
  try {
    return Lease(this, std::make_unique<PgConnection>(conninfo_));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  {
    std::lock_guard lock(mu_);
    --open_;
  }
  cv_.notify_one();
  while (!failure.empty() && (failure.back() == '\n' || failure.back() == ' ')) failure.pop_back();
  return Status::unavailable("cannot connect: " + failure);
}

void ConnectionPool::drop_idle() {
  std::vector<std::unique_ptr<PgConnection>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(idle_);
    open_ -= dropped.size();
  }
  cv_.notify_all();
  // Closed here, outside the lock.
}

void ConnectionPool::release(std::unique_ptr<PgConnection> conn) {
  const bool keep = conn->reusable();
  {
    std::lock_guard lock(mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
  // A connection that is not kept is closed here, outside the lock.
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->release(std::move(conn_));
}

}  // namespace tickgraph::store::pg
