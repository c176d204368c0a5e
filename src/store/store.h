// The database: durable history for tickgraph. One database object, store::Store, is three
// stores at once, each with its own contract:
//   - MarketStore (market_store.h): assets, candles per interval, ticks, ingest offsets, batches;
//   - GraphStore (graph_store.h): graph specs, versioned, and the analytics materialised from them;
//   - CredentialStore (credential_store.h): the server's credentials and token signing key.
// Code takes the narrowest one it needs (the server's auth takes a CredentialStore&); a Store&
// converts to each.
//
// Two backends implement Store and pass one conformance suite (store_conformance_test.cc): SQLite
// (sqlite/, the embedded default: one file, WAL) and PostgreSQL (postgres/, for scale).
// open_store() picks one from a URL. Every argument is checked once, by the three interfaces'
// public methods (checks.h), before a backend sees it; backends implement their protected do_…
// methods and hold only what is theirs: SQL, transactions, connections and the mapping of their
// own errors to codes.
//
// Errors are values: every call returns Status or Result with a code and a message
// "<call> on <database>: <cause>".
// Thread-safety: a Store may be used from several threads; backends serialise or pool
// connections internally.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "store/credential_store.h"
#include "store/graph_store.h"
#include "store/market_store.h"

namespace tickgraph::store {

class Store : public MarketStore, public GraphStore, public CredentialStore {
 public:
  ~Store() override = default;

 protected:
  // `clock` stamps what the database stamps (graph versions); it must outlive the store.
  explicit Store(const Clock& clock) : GraphStore(clock) {}

  // One location for the three interfaces' messages.
  std::string location() const override = 0;
};

// Opens a database from a URL: "sqlite:PATH" (created if absent, migrated forward) or
// "postgresql://user@host:port/db" (schema created or migrated). An empty URL means the default
// SQLite file (default_database_url()). `clock` stamps what the database stamps (graph versions'
// `created`); it must outlive the store. Fails with invalid_argument for another URL, and as the
// backend's open does (sqlite/sqlite_store.h, postgres/postgres_store.h).
Result<std::unique_ptr<Store>> open_store(std::string_view url,
                                          const Clock& clock = system_clock());

// $TICKGRAPH_DB if set, else $XDG_DATA_HOME/tickgraph/tickgraph.db, else
// ~/.local/share/tickgraph/tickgraph.db.
std::string default_database_url();

}  // namespace tickgraph::store
