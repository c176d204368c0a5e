#include "store/store.h"

#include <cstdlib>

#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace tickgraph::store {

std::string default_database_url() {
  if (const char* env = std::getenv("TICKGRAPH_DB"); env && *env) return env;
  // Built with append: GCC 12 reports a false -Wrestrict on `std::string + const char*` here.
  std::string url = "sqlite:";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    url.append(xdg).append("/tickgraph");
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    url.append(home).append("/.local/share/tickgraph");
  } else {
    url.append(".");
  }
  url.append("/tickgraph.db");
  return url;
}

Result<std::unique_ptr<Store>> open_store(std::string_view url, const Clock& clock) {
  const std::string u = url.empty() ? default_database_url() : std::string(url);
  if (u.rfind("sqlite:", 0) == 0) return open_sqlite_store(u.substr(7), clock);
  if (u.rfind("postgresql://", 0) == 0 || u.rfind("postgres://", 0) == 0) {
    return open_postgres_store(u, clock);
  }
  return Status::invalid_argument("--db '" + u +
                                  "': expected sqlite:PATH or postgresql://USER@HOST:PORT/DB");
}

}  // namespace tickgraph::store
