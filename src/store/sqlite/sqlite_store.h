// The embedded default database: one SQLite file in WAL mode (see store.h for the contract).
//
// Beyond store.h:
// - Durability: WAL with synchronous=FULL. A write that returned OK has been fsynced: it survives
//   the process being killed and an OS crash or power loss (given a disk that honours fsync).
// - Concurrency: one connection per Store behind a mutex, so calls from several threads run one
//   at a time. Several Stores or processes may open the same file; their writes are serialised
//   by SQLite's lock, waiting up to 10 s for it before failing.
// - Validation: the store's argument checks (store/checks.h) run before any of this code; the
//   asset and graph ids of a write are checked once per call, in its transaction.
// - Errors read "<call> on '<path>': <cause>", the cause being SQLite's message or ours, coded
//   by SQLite's result code (a busy or locked file is unavailable).
// - Asset ids are assigned by the store; the id of an Asset passed to upsert_asset is ignored.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace tickgraph::store {

// Opens (creating the file and its parent folder if needed) and migrates the schema forward.
// Fails naming the path when it cannot be opened, is not a tickgraph database, or has a schema
// newer than this build knows. `clock` stamps graph versions; it must outlive the store.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path,
                                                 const Clock& clock = system_clock());

}  // namespace tickgraph::store
