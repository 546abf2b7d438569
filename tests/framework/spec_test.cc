#include "framework/spec/spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "framework/spec/states.h"
#include "framework/storage/blob_store.h"
#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep::framework {
namespace {

ReplicableSpec Spec(std::string name, std::string table, std::string tmpl) {
  return {name, "", Strategy::kBlob, table, "id", tmpl, "test"};
}

TEST(SpecTest, EveryBuiltinIsValidAndUnique) {
  auto specs = ResolveSpecs({});
  ASSERT_TRUE(specs.ok()) << specs.status();
  int blobs = 0, repositories = 0;
  for (const auto& s : *specs) {
    EXPECT_EQ(s.origin, "built-in");
    (s.strategy == Strategy::kBlob ? blobs : repositories)++;
  }
  EXPECT_EQ(blobs, 11);
  EXPECT_EQ(repositories, 5);
}

// The names are stored in georep.geo_events and checked by
// georep.publish_event: they never change.
TEST(SpecTest, EventKindsAreStoredByTheirNames) {
  EXPECT_STREQ(EventKindName(EventKind::kCreated), "created");
  EXPECT_STREQ(EventKindName(EventKind::kUpdated), "updated");
  EXPECT_STREQ(EventKindName(EventKind::kDeleted), "deleted");
  for (EventKind kind : {EventKind::kCreated, EventKind::kUpdated, EventKind::kDeleted}) {
    EXPECT_EQ(ParseEventKind(EventKindName(kind)), kind);
  }
  EXPECT_EQ(ParseEventKind("moved"), std::nullopt);
  EXPECT_EQ(ParseEventKind(""), std::nullopt);
  EXPECT_EQ(StateSql("publish_event($1, id, $E_UPDATED), $E_CREATED, $E_DELETED, $S_SYNCED"),
            "publish_event($1, id, 'updated'), 'created', 'deleted', 2");
}

TEST(SpecTest, DeclaredTypesJoinBuiltinsAndDuplicatesAreRefused) {
  auto specs = ResolveSpecs({Spec("attachment", "custom.attachments", "a/{owner_id}/{id}.bin")});
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_EQ(specs->back().name, "attachment");
  auto dup = ResolveSpecs({Spec("upload", "x.y", "{id}")});
  EXPECT_EQ(dup.status().message(), "replicable \"upload\" (test) is declared twice");
}

TEST(SpecTest, BadDeclarationsNameTheProblem) {
  struct Case {
    ReplicableSpec spec;
    std::string expect;
  } cases[] = {
      {Spec("Bad-Name", "t", "{id}"), "lower_snake_case"},
      {Spec("ok", "public.t; drop table x", "{id}"), "is not [schema.]table"},
      {Spec("ok", "t", "constant/path"), "names no {column}"},
      {Spec("ok", "t", "../{id}"), "without \"..\""},
      {Spec("ok", "t", "/abs/{id}"), "must be relative"},
      {Spec("ok", "t", "{id"), "unclosed '{'"},
      {Spec("ok", "t", "{Id-x}"), "is not a column name"},
      {ReplicableSpec{"repo", "", Strategy::kRepository, "t", "id", "{path}", "test"},
       "must end in \".git\""},
  };
  for (const auto& c : cases) {
    absl::Status s = ValidateSpec(c.spec);
    EXPECT_FALSE(s.ok()) << c.spec.path_template;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << s;
  }
}

TEST(SpecTest, PathSqlQuotesColumnsAndLiterals) {
  auto spec = Spec("a", "s.t", "it's/{owner_id}/{id}.bin");
  EXPECT_EQ(PathSql(spec, "m"),
            "('it''s/' || m.\"owner_id\"::text || '/' || m.\"id\"::text || '.bin')");
  EXPECT_EQ(QuotedTable(spec), "\"s\".\"t\"");
  EXPECT_EQ(RegistryTable(spec), "georep.a_registry");
}

// Redmine's legacy rows have no directory: a segment in brackets is left
// out when one of its columns is NULL or empty (NULL || '/' is NULL).
TEST(SpecTest, AnOptionalSegmentIsLeftOutWhenItsColumnIsNullOrEmpty) {
  auto spec = Spec("a", "public.attachments", "[{disk_directory}/]{disk_filename}");
  ASSERT_TRUE(ValidateSpec(spec).ok()) << ValidateSpec(spec);
  EXPECT_EQ(PathSql(spec, "m"),
            "(coalesce(nullif(m.\"disk_directory\"::text, '') || '/', '') || "
            "m.\"disk_filename\"::text)");
  auto two = Spec("a", "t", "files/[{a}-{b}/]{id}.bin");
  EXPECT_EQ(PathSql(two, "m"),
            "('files/' || coalesce(nullif(m.\"a\"::text, '') || '-' || nullif(m.\"b\"::text, '') "
            "|| '/', '') || m.\"id\"::text || '.bin')");
  struct Case {
    std::string tmpl;
    std::string expect;
  } cases[] = {{"[{a}/{b}", "unclosed '['"},
               {"{a}]", "']' without '['"},
               {"[x/]{a}", "optional segment [...] without a {column}"},
               {"[[{a}]]", "nests an optional segment"}};
  for (const auto& c : cases) {
    absl::Status st = ValidateSpec(Spec("a", "t", c.tmpl));
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << c.tmpl << ": " << st;
  }
}

// A path no template can say, as SQL over the row; one of the two ways.
TEST(SpecTest, APathCanBeAnSqlExpressionOverTheRow) {
  auto spec = Spec("a", "t", "");
  spec.path_sql = "'@hashed/' || encode(sha256({id}::text::bytea), 'hex')";
  ASSERT_TRUE(ValidateSpec(spec).ok()) << ValidateSpec(spec);
  EXPECT_EQ(PathSql(spec, "NEW"),
            "(('@hashed/' || encode(sha256(NEW.\"id\"::text::bytea), 'hex'))::text)");
  auto both = spec;
  both.path_template = "{id}";
  EXPECT_NE(ValidateSpec(both).message().find("not both"), std::string::npos);
  auto neither = Spec("a", "t", "");
  EXPECT_NE(ValidateSpec(neither).message().find("path_template or by path_sql"),
            std::string::npos);
  for (const char* bad : {"{id}; DROP TABLE t", "{id} || '$fn$'", "{Id}"}) {
    auto b = spec;
    b.path_sql = bad;
    absl::Status st = ValidateSpec(b);
    EXPECT_NE(st.message().find("path_sql: "), std::string::npos) << bad << ": " << st;
  }
}

// An application's own digest: a column of the row, SHA-256 only, blobs
// only; only a well-formed digest is taken.
TEST(SpecTest, AChecksumColumnIsABlobsSha256Digest) {
  auto spec = Spec("a", "t", "{id}");
  EXPECT_EQ(AppChecksumSql(spec, "m"), "NULL");
  spec.checksum_column = "digest";
  spec.checksum_algorithm = "sha256";
  ASSERT_TRUE(ValidateSpec(spec).ok()) << ValidateSpec(spec);
  EXPECT_EQ(AppChecksumSql(spec, "m"),
            "(CASE WHEN lower(m.\"digest\"::text) ~ '^[0-9a-f]{64}$' THEN "
            "lower(m.\"digest\"::text) END)");
  struct Case {
    ReplicableSpec spec;
    std::string expect;
  } cases[] = {
      {spec, ""},
      {spec, "checksum_algorithm \"md5\" is not supported (only \"sha256\")"},
      {spec, "checksum_column \"Di gest\" is not a column name"},
      {ReplicableSpec{"r", "", Strategy::kRepository, "t", "id", "{p}.git", "test"},
       "a repository's checksum is Georep's own"},
  };
  cases[0].spec.checksum_algorithm = "";
  cases[0].expect = "checksum_column without checksum_algorithm";
  cases[1].spec.checksum_algorithm = "md5";
  cases[2].spec.checksum_column = "Di gest";
  cases[3].spec.checksum_column = "digest";
  cases[3].spec.checksum_algorithm = "sha256";
  for (const auto& c : cases) {
    absl::Status st = ValidateSpec(c.spec);
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st;
  }
}

// A declaration's namespace and shard expressions: {column} placeholders
// become the row's columns; a stray brace, a non-column or a second
// statement is refused, naming the key.
TEST(SpecTest, SelectiveSyncExpressionsAreCheckedAndScopeOnlyWhatTheyMap) {
  auto spec = Spec("a", "s.t", "{id}");
  spec.namespace_sql = "SELECT path FROM s.groups g WHERE g.id = {group_id}";
  EXPECT_TRUE(ValidateSpec(spec).ok());
  EXPECT_EQ(*RowSql(spec.namespace_sql, "m"),
            "(SELECT path FROM s.groups g WHERE g.id = m.\"group_id\")");
  struct Case {
    std::string text;
    std::string expect;
  } cases[] = {{"{group_id", "unclosed '{'"},
               {"group_id}", "'}' without '{'"},
               {"{Group Id}", "is not a column name"},
               {"{x}; DROP TABLE s.t", "without ';'"},
               {"  ", "is empty"}};
  for (const auto& c : cases) {
    auto bad = spec;
    bad.shard_sql = c.text;
    absl::Status st = ValidateSpec(bad);
    EXPECT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find("shard_sql"), std::string::npos) << st;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st;
  }

  SelectiveSync none;
  SelectiveSync by_ns{SelectiveSync::Kind::kNamespaces, {"it's"}, {}};
  SelectiveSync by_shard{SelectiveSync::Kind::kShards, {}, {"ssd"}};
  EXPECT_FALSE(Scoped(spec, none));
  EXPECT_TRUE(Scoped(spec, by_ns));
  EXPECT_FALSE(Scoped(spec, by_shard))
      << "no shard mapping: every item is in every shard selection";
  EXPECT_EQ(ScopeSql(spec, by_shard, "m"), "true");
  std::string sql = ScopeSql(spec, by_ns, "m");
  EXPECT_NE(sql.find("'it''s'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("m.\"group_id\""), std::string::npos) << sql;
}

TEST(SpecTest, ConfinedPathRefusesEscapes) {
  std::string root = test::MakeTempDir("confine");
  EXPECT_EQ(*ConfinedPath(root, "a/b/c"), root + "/a/b/c");
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/./b", "a/.."}) {
    auto p = ConfinedPath(root, bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied) << bad;
  }
  // A symbolic link inside the root is never followed.
  std::filesystem::create_directories(root + "/real");
  ASSERT_EQ(symlink("/etc", (root + "/link").c_str()), 0);
  EXPECT_FALSE(ConfinedPath(root, "link/passwd").ok());
  EXPECT_TRUE(ConfinedPath(root, "real/file").ok());
  test::RemoveTree(root);
}

// With a bucket, a blob is an object at its row's path under the prefix,
// refused like a file path when it would escape; a repository stays a
// folder under its root.
TEST(SpecTest, ItemLocationIsAnObjectForABlobWhenTheSiteHasABucket) {
  const std::vector<ReplicableSpec> specs = BuiltinReplicables();
  const ReplicableSpec* blob = nullptr;
  const ReplicableSpec* repo = nullptr;
  for (const auto& spec : specs) {
    if (spec.strategy == Strategy::kBlob && blob == nullptr) blob = &spec;
    if (spec.strategy == Strategy::kRepository && repo == nullptr) repo = &spec;
  }
  ASSERT_NE(blob, nullptr);
  ASSERT_NE(repo, nullptr);
  std::string root = test::MakeTempDir("location");
  auto files = LocalFiles(root + "/s");
  EXPECT_EQ(*ItemLocation(*blob, *files, root + "/r", "a/b"), root + "/s/a/b");
  auto bucket = Bucket(std::make_shared<transport::S3Client>(
      transport::S3Location{.endpoint = "http://127.0.0.1:9", .bucket = "blobs", .prefix = "eu/"}));
  EXPECT_EQ(*ItemLocation(*blob, *bucket, root + "/r", "a/b"), "s3://blobs/eu/a/b");
  EXPECT_TRUE(absl::IsNotFound(bucket->Remove("s3://other/eu/a/b"))) << "another bucket's object";
  EXPECT_TRUE(absl::IsNotFound(files->Checksum("/elsewhere/a/b").status()))
      << "a file outside the root";
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.."}) {
    for (const BlobStore* store : {files.get(), bucket.get()}) {
      auto p = ItemLocation(*blob, *store, root + "/r", bad);
      EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied) << bad;
    }
  }
  EXPECT_EQ(*ItemLocation(*repo, *bucket, root + "/r", "g/p.git"), root + "/r/g/p.git");
  test::RemoveTree(root);
}

}  // namespace
}  // namespace georep::framework
