// The database at scale: PostgreSQL through libpqxx (see store.h for the contract).
//
// Beyond store.h: errors read "<call> on PostgreSQL HOST:PORT/DB: <cause>" (never the password),
// the cause being PostgreSQL's message on one line or ours, coded by its SQLSTATE (a lost
// connection, a lock or statement timeout is unavailable). A statement waits at most 10 s for a
// lock (lock_timeout, like SQLite's busy timeout): a table another session has locked (a
// migration, `LOCK TABLE`) fails the call as unavailable instead of holding it indefinitely.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace tickgraph::store {

// Connects (a small pool) to a postgresql:// URL and creates or migrates the schema. Fails naming
// the server (never the password) when it cannot connect or the schema is newer than this build.
// `clock` stamps graph versions; it must outlive the store.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url,
                                                   const Clock& clock = system_clock());

}  // namespace tickgraph::store
