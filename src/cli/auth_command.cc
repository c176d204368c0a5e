// tickgraph auth client add NAME --scopes read,write [--db URL]   prints client_id= and
// client_secret= tickgraph auth client list [--db URL] tickgraph auth client revoke ID [--db URL]
// tickgraph auth key add NAME --scopes read [--db URL]            prints key_id= and api_key=
// tickgraph auth key list [--db URL]
// tickgraph auth key revoke ID [--db URL]
//
// Credentials of `tickgraph serve` (server/auth/credentials.h), in the same database the server
// uses. A secret is printed once, at creation; only its hash is stored. A running server sees a
// revocation within two seconds.
#include <CLI/CLI.hpp>
#include <ctime>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_code.h"
#include "core/log.h"
#include "server/auth/credentials.h"
#include "store/store.h"

namespace tickgraph::cli {

namespace {

struct AuthOptions {
  std::string db;
  std::string name;
  std::string scopes;
  std::string id;
};

std::string utc(Timestamp ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

// The credentials of the database at --db: all this command sees of it.
Result<std::unique_ptr<store::CredentialStore>> open(const AuthOptions& o) {
  auto db = store::open_store(o.db.empty() ? store::default_database_url() : o.db);
  if (!db.ok()) return db.status();
  return std::unique_ptr<store::CredentialStore>(std::move(*db));
}

int add(const AuthOptions& o, const std::string& kind) {
  auto scopes = server::auth::parse_scopes(o.scopes);
  if (!scopes) return fail(scopes.status().with_prefix("--scopes: "));
  auto store = open(o);
  if (!store) return fail(store.status());
  auto issued = kind == "client" ? server::auth::add_client(**store, o.name, *scopes)
                                 : server::auth::add_api_key(**store, o.name, *scopes);
  if (!issued) return fail(issued.status());
  if (kind == "client") {
    std::cout << "client_id=" << issued->credential.id << "\n"
              << "client_secret=" << issued->secret << "\n";
  } else {
    std::cout << "key_id=" << issued->credential.id << "\n"
              << "api_key=" << issued->secret << "\n";
  }
  log::info("the secret is shown only this once; scopes: " +
            server::auth::join_scopes(*scopes, ','));
  return kExitOk;
}

int list(const AuthOptions& o, const std::string& kind) {
  auto store = open(o);
  if (!store) return fail(store.status());
  auto all = (*store)->list_credentials(kind);
  if (!all) return fail(all.status());
  std::cout << "id\tname\tscopes\tcreated\tstatus\n";
  for (const auto& c : *all) {
    std::cout << c.id << "\t" << c.name << "\t" << server::auth::join_scopes(c.scopes, ',') << "\t"
              << utc(c.created) << "\t"
              << (c.revoked ? "revoked " + utc(*c.revoked) : std::string("active")) << "\n";
  }
  return kExitOk;
}

int revoke(const AuthOptions& o, const std::string& kind) {
  auto store = open(o);
  if (!store) return fail(store.status());
  if (Status s = server::auth::revoke(**store, kind, o.id); !s.ok()) return fail(s);
  std::cout << "revoked " << o.id << "\n";
  return kExitOk;
}

void add_group(CLI::App& parent, Action& action, const std::string& name, const std::string& kind,
               const std::string& what) {
  CLI::App* group = parent.add_subcommand(name, "Manage " + what);
  group->require_subcommand(1);
  auto o = std::make_shared<AuthOptions>();
  CLI::App* add_cmd = group->add_subcommand("add", "Create one; prints its secret once");
  add_cmd->add_option("name", o->name, "A label (who or what uses it)")->required();
  add_cmd->add_option("--scopes", o->scopes, "read, write, admin (comma-separated)")->required();
  add_cmd->add_option("--db", o->db, "Database URL (default: the embedded SQLite file)");
  add_cmd->callback([&action, o, kind] { action = [o, kind] { return add(*o, kind); }; });
  CLI::App* list_cmd = group->add_subcommand("list", "List them, revoked ones included");
  list_cmd->add_option("--db", o->db, "Database URL (default: the embedded SQLite file)");
  list_cmd->callback([&action, o, kind] { action = [o, kind] { return list(*o, kind); }; });
  CLI::App* revoke_cmd = group->add_subcommand("revoke", "Revoke one");
  revoke_cmd->add_option("id", o->id, "Its id")->required();
  revoke_cmd->add_option("--db", o->db, "Database URL (default: the embedded SQLite file)");
  revoke_cmd->callback([&action, o, kind] { action = [o, kind] { return revoke(*o, kind); }; });
}

}  // namespace

void add_auth_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("auth", "Manage the credentials of tickgraph serve");
  cmd->require_subcommand(1);
  add_group(*cmd, action, "client", "client", "OAuth2 clients (client credentials grant)");
  add_group(*cmd, action, "key", "api_key", "API keys (X-API-Key)");
}

}  // namespace tickgraph::cli
