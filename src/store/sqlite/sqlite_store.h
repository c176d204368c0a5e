// The embedded default store: one SQLite file in WAL mode (see store.h for the contract).
//
// Beyond store.h:
// - Durability: WAL with synchronous=FULL. A write that returned OK has been fsynced: it survives
//   the process being killed and an OS crash or power loss (given a disk that honours fsync).
// - Concurrency: one connection per Store behind a mutex, so calls from several threads run one
//   at a time. Several Stores or processes may open the same file; their writes are serialised
//   by SQLite's lock, waiting up to 10 s for it before failing.
// - Validation: write_candles and write_ticks refuse non-finite prices, sizes and volumes (the
//   whole call fails); asset and graph ids are checked once per call. add_credential refuses an
//   empty id or secret hash, a kind other than "client" or "api_key", scopes that are empty or
//   contain a space (they are stored space-separated), and NUL bytes (as PostgreSQL does);
//   list_credentials refuses an unknown kind, and signing_key a candidate with an empty field.
// - Errors read "<operation> on '<path>': <cause>", the cause being SQLite's message or ours.
// - Asset ids are assigned by the store; the id of an Asset passed to upsert_asset is ignored.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace tickgraph::store {

// Opens (creating the file and its parent folder if needed) and migrates the schema forward.
// Fails naming the path when it cannot be opened, is not a tickgraph database, or has a schema
// newer than this build knows.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace tickgraph::store
