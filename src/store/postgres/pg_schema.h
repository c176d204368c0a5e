// The store's schema in PostgreSQL and its forward migrations.
//
// schema_version holds one row per applied migration; the schema's version is the largest. Each
// migration runs in the transaction that records it, under an advisory lock, so that processes
// opening the same database at once migrate it exactly once.
#pragma once

#include <string>

#include "core/result.h"
#include "store/postgres/pg_connection.h"

namespace tickgraph::store::pg {

// The schema version this build creates and understands.
inline constexpr int kSchemaVersion = 2;

// Creates the schema or migrates it forward to kSchemaVersion. Fails, naming both versions and
// `server`, when the database's schema is newer than this build. Throws libpqxx exceptions on
// database errors.
Status migrate(PgConnection& conn, const std::string& server);

}  // namespace tickgraph::store::pg
