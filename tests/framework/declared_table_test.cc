// What a declaration says of an application's own table, against a real
// database: paths with optional segments or in SQL, integer ids of any
// width, and an application's own SHA-256 digest taken by the primary's
// checksummer and read against the bytes at the re-verification pace.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "events/publish.h"
#include "framework/registry/primary_states.h"
#include "framework/spec/spec.h"
#include "framework/storage/blob_store.h"
#include "framework/verify/checksummer.h"
#include "gtest/gtest.h"
#include "support/two_db.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

// Redmine's attachments, as Redmine 5 makes them: an integer id, a
// directory that legacy rows lack, a digest that may be empty or an MD5.
class DeclaredTableTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    ASSERT_TRUE(main_
                    ->ExecScript("CREATE TABLE t.attachments (id serial PRIMARY KEY, "
                                 "disk_directory varchar, disk_filename varchar NOT NULL, "
                                 "digest varchar(64) NOT NULL DEFAULT '')")
                    .ok());
    att_ = {"attachment",    "",   Strategy::kBlob,
            "t.attachments", "id", "[{disk_directory}/]{disk_filename}",
            "test"};
    att_.checksum_column = "digest";
    att_.checksum_algorithm = "sha256";
  }

  int64_t Insert(const char* dir, const std::string& name, const std::string& digest) {
    auto r = main_->Exec(
        "INSERT INTO t.attachments (disk_directory, disk_filename, digest) VALUES ($1, $2, $3) "
        "RETURNING id",
        {dir == nullptr ? std::optional<std::string>() : std::optional<std::string>(dir), name,
         digest});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  // state, checksum, failure of the primary's states row.
  std::vector<std::string> State(int64_t id) {
    auto r = main_->Exec(SpecSql(att_,
                                 "SELECT state::text, coalesce(checksum, ''), "
                                 "coalesce(failure, '') FROM $STATES WHERE model_id = $1"),
                         {absl::StrCat(id)});
    if (!r.ok() || r->rows() != 1) return {};
    return {std::string(r->Get(0, 0)), std::string(r->Get(0, 1)), std::string(r->Get(0, 2))};
  }
  Checksummer MakeChecksummer() {
    return Checksummer({.main_conninfo = conninfo_,
                        .blobs = LocalFiles(storage_),
                        .worker_id = "checksummer",
                        .interval_seconds = 3600},
                       {att_});
  }

  ReplicableSpec att_;
};

TEST_F(DeclaredTableTest, PathsOfEveryShapeAndIntegerIdsAreAccepted) {
  ASSERT_TRUE(CheckDeclaredSql(*main_, att_).ok()) << CheckDeclaredSql(*main_, att_);
  int64_t dated = Insert("2026/12", "a.bin", "");
  int64_t legacy = Insert(nullptr, "b.bin", "");
  int64_t empty = Insert("", "c.bin", "");
  ReplicableSpec by_sql = att_;
  by_sql.path_template.clear();
  by_sql.path_sql = "coalesce(nullif({disk_directory}, '') || '/', '') || {disk_filename}";
  ASSERT_TRUE(ValidateSpec(by_sql).ok()) << ValidateSpec(by_sql);
  ASSERT_TRUE(CheckDeclaredSql(*main_, by_sql).ok()) << CheckDeclaredSql(*main_, by_sql);
  for (const ReplicableSpec& spec : {att_, by_sql}) {
    auto r = main_->Exec(SpecSql(
        spec, absl::StrCat("SELECT m.$ID, ", PathSql(spec, "m"), " FROM $MODEL m ORDER BY m.$ID")));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->rows(), 3);
    EXPECT_EQ(r->GetInt64(0, 0), dated);
    EXPECT_EQ(r->Get(0, 1), "2026/12/a.bin") << spec.path_sql;
    EXPECT_EQ(r->GetInt64(1, 0), legacy);
    EXPECT_EQ(r->Get(1, 1), "b.bin") << spec.path_sql;
    EXPECT_EQ(r->GetInt64(2, 0), empty);
    EXPECT_EQ(r->Get(2, 1), "c.bin") << spec.path_sql;
  }
  // The publish triggers take the integer id, and the path, too.
  auto skipped = events::InstallPublishTriggers(*main_, {att_});
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  int64_t later = Insert(nullptr, "d.bin", "");
  auto ev = main_->Exec(
      "SELECT model_id FROM georep.geo_events WHERE replicable_name = 'attachment' ORDER BY id "
      "DESC LIMIT 1");
  ASSERT_TRUE(ev.ok() && ev->rows() == 1) << ev.status();
  EXPECT_EQ(ev->GetInt64(0, 0), later);
}

// What the database refuses is an error naming the replicable and the key,
// at start-up.
TEST_F(DeclaredTableTest, WhatTheTableCannotGiveIsAnErrorNamingTheKey) {
  ASSERT_TRUE(main_
                  ->ExecScript("CREATE TABLE t.by_uuid (id uuid PRIMARY KEY, name text NOT NULL);"
                               "CREATE TABLE public.dirs (d text)")
                  .ok());
  struct Case {
    ReplicableSpec spec;
    std::string expect;
  } cases[] = {{att_, "id_column: t.attachments has no column \"no_id\""},
               {att_, "id_column: \"id\" of t.by_uuid is uuid; an id must be an integer column"},
               {att_, "path_template: "},
               {att_, "path_sql: "},
               {att_, "checksum_column: "},
               {att_, "path_sql: relation \"dirs\" does not exist"}};
  cases[0].spec.id_column = "no_id";
  cases[1].spec.model_table = "t.by_uuid";
  cases[1].spec.path_template = "{name}";
  cases[1].spec.checksum_column = cases[1].spec.checksum_algorithm = "";
  cases[2].spec.path_template = "[{no_such_dir}/]{disk_filename}";
  cases[3].spec.path_template = "";
  cases[3].spec.path_sql = "{disk_filename} || no_such_function({id})";
  cases[4].spec.checksum_column = "sha";
  // The publish triggers run with search_path pg_catalog: a table without
  // its schema is not found there, so not here either.
  cases[5].spec.path_template = "";
  cases[5].spec.path_sql = "(SELECT d FROM dirs LIMIT 1) || {disk_filename}";
  for (const auto& c : cases) {
    ASSERT_TRUE(ValidateSpec(c.spec).ok()) << ValidateSpec(c.spec);
    absl::Status st = CheckDeclaredSql(*main_, c.spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("replicable \"attachment\" (test): " + c.expect), std::string::npos)
        << st;
  }
}

// The primary takes a valid SHA-256 digest without reading the file, hashes
// the rows whose digest is none (empty, an MD5), and reads the bytes against
// a taken digest when it comes due: a mismatch is a checksum failure, which
// clears once the file is right.
TEST_F(DeclaredTableTest, TheApplicationsDigestIsTakenThenCheckedAtTheReverificationPace) {
  ASSERT_TRUE(events::InstallPublishTriggers(*main_, {att_}).ok());
  const std::string right = "the bytes Redmine stored\n";
  // Not on disk yet: a digest taken is not a file read.
  int64_t taken = Insert("2026/12", "taken.bin", Sha256Hex(right));
  ASSERT_TRUE(WriteFileAtomic(storage_ + "/old.txt", "legacy bytes").ok());
  int64_t md5 = Insert(nullptr, "old.txt", "0cc175b9c0f1b6a831c399e269772661");
  ASSERT_TRUE(WriteFileAtomic(storage_ + "/none.txt", "no digest").ok());
  int64_t none = Insert(nullptr, "none.txt", "");
  Checksummer checksummer = MakeChecksummer();
  ASSERT_TRUE(checksummer.Round().ok());
  const std::string succeeded = absl::StrCat(kVerificationSucceeded);
  EXPECT_EQ(State(taken), (std::vector<std::string>{succeeded, Sha256Hex(right), ""}));
  EXPECT_EQ(State(md5), (std::vector<std::string>{succeeded, Sha256Hex("legacy bytes"), ""}));
  EXPECT_EQ(State(none), (std::vector<std::string>{succeeded, Sha256Hex("no digest"), ""}));

  // Due for re-verification, the file holds other bytes than its digest says.
  ASSERT_TRUE(MakeDirs(storage_ + "/2026/12").ok());
  ASSERT_TRUE(WriteFileAtomic(storage_ + "/2026/12/taken.bin", "damaged").ok());
  ASSERT_TRUE(main_
                  ->Exec(SpecSql(att_,
                                 "UPDATE $STATES SET verified_at = now() - interval '2 "
                                 "hours'"))
                  .ok());
  ASSERT_TRUE(checksummer.Round().ok());
  auto failed = State(taken);
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_EQ(failed[0], absl::StrCat(kVerificationFailed));
  EXPECT_EQ(failed[2],
            absl::StrCat("the bytes do not match the application's checksum (digest = ",
                         Sha256Hex(right), ", the bytes hash to ", Sha256Hex("damaged"), ")"));
  EXPECT_EQ(State(none)[0], succeeded) << "an unchanged file stays verified";

  // Repaired, the retry reads it again and it is verified.
  ASSERT_TRUE(WriteFileAtomic(storage_ + "/2026/12/taken.bin", right).ok());
  ASSERT_TRUE(
      main_->Exec(SpecSql(att_, "UPDATE $STATES SET retry_at = now() WHERE state = $V_FAILED"))
          .ok());
  ASSERT_TRUE(checksummer.Round().ok());
  EXPECT_EQ(State(taken), (std::vector<std::string>{succeeded, Sha256Hex(right), ""}));

  // The application replaces the file and its digest: the new digest is the
  // checksum.
  ASSERT_TRUE(main_
                  ->Exec("UPDATE t.attachments SET digest = upper($2) WHERE id = $1",
                         {absl::StrCat(taken), Sha256Hex("new bytes")})
                  .ok());
  ASSERT_TRUE(checksummer.Round().ok());
  EXPECT_EQ(State(taken), (std::vector<std::string>{succeeded, Sha256Hex("new bytes"), ""}))
      << "an upper-case digest is taken in lower case";
}

}  // namespace
}  // namespace georep::framework
