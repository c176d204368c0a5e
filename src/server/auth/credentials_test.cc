// Credentials against a real SQLite store: scopes parsing, hashing, creation and revocation.
#include "server/auth/credentials.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/store.h"

namespace tickgraph::server::auth {
namespace {

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tickgraph-credentials-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto opened = store::open_store("sqlite:" + (dir_ / "db.sqlite").string());
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST(Scopes, ParseNamesWhatIsWrong) {
  EXPECT_EQ(*parse_scopes("read,write"), (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(*parse_scopes(" admin read "), (std::vector<std::string>{"admin", "read"}));
  EXPECT_EQ(parse_scopes("read,root").code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parse_scopes("read,root").message().find("'root'"), std::string::npos)
      << "the message names the scope";
  EXPECT_EQ(parse_scopes("read,read").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(parse_scopes(" , ").ok());
  EXPECT_EQ(join_scopes({"read", "write"}), "read write");
  EXPECT_EQ(join_scopes({"read", "write"}, ','), "read,write");
}

TEST(Secrets, Argon2idHashesVerifyOnlyTheirSecret) {
  const std::string hash = hash_secret("correct horse");
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
  EXPECT_TRUE(verify_secret("correct horse", hash));
  EXPECT_FALSE(verify_secret("correct horsf", hash));
  EXPECT_NE(hash_secret("correct horse"), hash) << "each hash has its own salt";
  EXPECT_TRUE(verify_secret(
      "abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_FALSE(verify_secret(
      "abd", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_FALSE(verify_secret("abc", "plain:abc")) << "unknown schemes never verify";
}

TEST(ApiKeys, SplitIntoIdAndSecret) {
  std::string id, secret;
  EXPECT_TRUE(split_api_key("tgk_0123456789abcdef_s3cr3t", id, secret));
  EXPECT_EQ(id, "tgk_0123456789abcdef");
  EXPECT_EQ(secret, "s3cr3t");
  EXPECT_FALSE(split_api_key("tgk_0123456789abcdef_", id, secret));
  EXPECT_FALSE(split_api_key("tgc_0123456789abcdef_s", id, secret));
  EXPECT_FALSE(split_api_key("tgk_short_s", id, secret));
  EXPECT_FALSE(split_api_key("", id, secret));
}

TEST_F(CredentialsTest, ClientsAndKeysAreStoredHashedAndRevocable) {
  auto client = add_client(*store_, "svc", {"read", "write"});
  ASSERT_TRUE(client.ok()) << client.message();
  EXPECT_EQ(client->credential.id.rfind("tgc_", 0), 0u);
  auto stored = store_->find_credential(client->credential.id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ((*stored)->secret_hash.find(client->secret), std::string::npos)
      << "the secret itself is never stored";
  EXPECT_TRUE(verify_secret(client->secret, (*stored)->secret_hash));

  auto key = add_api_key(*store_, "script", {"read"});
  ASSERT_TRUE(key.ok()) << key.message();
  std::string id, secret;
  ASSERT_TRUE(split_api_key(key->secret, id, secret));
  EXPECT_EQ(id, key->credential.id);
  auto stored_key = store_->find_credential(id);
  ASSERT_TRUE(stored_key.ok() && stored_key->has_value());
  EXPECT_TRUE(verify_secret(secret, (*stored_key)->secret_hash));
  EXPECT_EQ((*stored_key)->secret_hash.find(secret), std::string::npos);

  // Revocation names a missing id, and checks the kind.
  Status wrong_kind = revoke(*store_, "api_key", client->credential.id);
  EXPECT_EQ(wrong_kind.code(), StatusCode::kNotFound);
  EXPECT_NE(wrong_kind.message().find(client->credential.id), std::string::npos);
  EXPECT_FALSE(revoke(*store_, "client", "tgc_missing").ok());
  ASSERT_TRUE(revoke(*store_, "client", client->credential.id).ok());
  auto revoked = store_->find_credential(client->credential.id);
  ASSERT_TRUE(revoked.ok() && revoked->has_value());
  EXPECT_TRUE((*revoked)->revoked.has_value());

  EXPECT_FALSE(add_client(*store_, "", {"read"}).ok());
  EXPECT_FALSE(add_api_key(*store_, "x", {}).ok());
}

TEST_F(CredentialsTest, CreationAndRevocationAreStampedByTheGivenClock) {
  ManualClock clock(1'700'000'000 * kSecond);
  auto key = add_api_key(*store_, "script", {"read"}, clock);
  ASSERT_TRUE(key.ok()) << key.message();
  EXPECT_EQ(key->credential.created, 1'700'000'000 * kSecond);
  clock.advance(90 * kSecond);
  ASSERT_TRUE(revoke(*store_, "api_key", key->credential.id, clock).ok());
  auto stored = store_->find_credential(key->credential.id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->created, 1'700'000'000 * kSecond);
  ASSERT_TRUE((*stored)->revoked.has_value());
  EXPECT_EQ(*(*stored)->revoked, 1'700'000'090 * kSecond);
}

}  // namespace
}  // namespace tickgraph::server::auth
