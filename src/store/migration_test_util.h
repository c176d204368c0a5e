// What the backends' schema migration tests (sqlite/sqlite_store_test.cc,
// postgres/postgres_store_test.cc) check once a database left by a schema-version-1 build has
// been migrated: the credential store, whose tables migration 2 added, works on it. Test code.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "store/credential_store.h"

namespace tickgraph::store {

// Adds a client credential with this id and reads it back, then stores the first signing key
// (the database must have none). Reports failures through gtest.
inline void expect_credentials_work_after_migration(CredentialStore& store, const std::string& id,
                                                    Timestamp created) {
  Credential c;
  c.id = id;
  c.kind = "client";
  c.name = "after the migration";
  c.scopes = {"read"};
  c.secret_hash = "sha256:00";
  c.created = created;
  const Status added = store.add_credential(c);
  ASSERT_TRUE(added.ok()) << added.message();
  const Result<std::optional<Credential>> back = store.find_credential(c.id);
  ASSERT_TRUE(back.ok() && back->has_value()) << back.message();
  EXPECT_EQ((*back)->name, "after the migration");
  const Result<SigningKey> key = store.signing_key({"kid-1", "ES256", "pem", created});
  ASSERT_TRUE(key.ok()) << key.message();
  EXPECT_EQ(key->kid, "kid-1");
}

}  // namespace tickgraph::store
