// The store at scale: PostgreSQL through libpqxx (see store.h for the contract).
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace tickgraph::store {

// Connects (a small pool) to a postgresql:// URL and creates or migrates the schema. Fails naming
// the server (never the password) when it cannot connect or the schema is newer than this build.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url);

}  // namespace tickgraph::store
