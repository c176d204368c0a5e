#include "store/postgres/pg_schema.h"

#include <pqxx/transaction>

namespace tickgraph::store::pg {
namespace {

// An arbitrary advisory lock key, held while the schema is checked and migrated.
constexpr long long kMigrationLock = 0x7469636b67726100;  // "tickgra\0"

struct Migration {
  int version;
  const char* sql;
};

// Text columns that are keys or sort orders use the "C" collation: byte order, as SQLite's, and
// independent of the server's locale. Times are int64 ns since the epoch, as everywhere in
// tickgraph. Candles and ticks carry no foreign keys (a per-row check would slow bulk writes);
// the store checks the asset once per write instead.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE assets (
  id          bigserial PRIMARY KEY,
  symbol      text COLLATE "C" NOT NULL UNIQUE,
  name        text NOT NULL,
  asset_class text NOT NULL,
  currency    text NOT NULL,
  exchange    text NOT NULL
);
CREATE TABLE asset_attributes (
  asset_id bigint NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
  key      text COLLATE "C" NOT NULL,
  value    text NOT NULL,
  PRIMARY KEY (asset_id, key)
);
CREATE TABLE candles (
  asset_id bigint NOT NULL,
  interval text COLLATE "C" NOT NULL,
  time     bigint NOT NULL,
  open     double precision NOT NULL,
  high     double precision NOT NULL,
  low      double precision NOT NULL,
  close    double precision NOT NULL,
  volume   double precision NOT NULL,
  PRIMARY KEY (asset_id, interval, time)
);
CREATE TABLE ticks (
  asset_id bigint NOT NULL,
  time     bigint NOT NULL,
  seq      bigint NOT NULL,
  price    double precision NOT NULL,
  size     double precision NOT NULL,
  PRIMARY KEY (asset_id, time, seq)
);
-- One row per version; graph_id identifies that version (as in the SQLite store).
CREATE TABLE graphs (
  graph_id bigserial PRIMARY KEY,
  name     text COLLATE "C" NOT NULL,
  version  bigint NOT NULL,
  spec     text NOT NULL,
  created  bigint NOT NULL,
  UNIQUE (name, version)
);
CREATE TABLE analytics (
  asset_id bigint NOT NULL,
  graph_id bigint NOT NULL,
  version  bigint NOT NULL,
  output   text COLLATE "C" NOT NULL,
  time     bigint NOT NULL,
  value    double precision,
  PRIMARY KEY (graph_id, version, asset_id, output, time)
);
-- The key leads with the graph (delete_graph); a changed candle deletes its asset's analytics
-- from its time on, through this index.
CREATE INDEX analytics_by_asset_time ON analytics (asset_id, time);
CREATE TABLE ingest_offsets (
  source    text COLLATE "C" NOT NULL,
  partition text COLLATE "C" NOT NULL,
  position  bigint NOT NULL,
  PRIMARY KEY (source, partition)
);
)sql"},
    // Credentials and the token signing key of `tickgraph serve`.
    {2, R"sql(
CREATE TABLE credentials (
  id          text COLLATE "C" PRIMARY KEY,  -- unique over both kinds
  kind        text COLLATE "C" NOT NULL CHECK (kind IN ('client', 'api_key')),
  name        text NOT NULL,
  scopes      text NOT NULL,                 -- space-separated, in the order given
  secret_hash text NOT NULL,
  created     bigint NOT NULL,
  revoked     bigint                         -- NULL while valid
);
CREATE TABLE signing_keys (
  kid         text COLLATE "C" PRIMARY KEY,
  algorithm   text NOT NULL,
  private_pem text NOT NULL,
  created     bigint NOT NULL
);
)sql"},
};

static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion,
              "one migration per schema version, in order");

}  // namespace

Status migrate(PgConnection& conn, const std::string& server) {
  pqxx::work tx(conn);
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
  tx.exec0(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      "  version integer PRIMARY KEY,"
      "  applied timestamptz NOT NULL DEFAULT now())");
  const pqxx::row row = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_version");
  const int current = row[0].as<int>();
  if (current > kSchemaVersion) {
    return Status::failed_precondition("PostgreSQL database " + server + " has schema version " +
                                       std::to_string(current) + ", newer than version " +
                                       std::to_string(kSchemaVersion) +
                                       " that this build of tickgraph knows; upgrade tickgraph");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    tx.exec0(m.sql);
    tx.exec_params0("INSERT INTO schema_version (version) VALUES ($1)", m.version);
  }
  tx.commit();
  return Status();
}

}  // namespace tickgraph::store::pg
