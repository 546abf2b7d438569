// A main database and a tracking database in the test cluster, migrated,
// with the sample schema: the databases a secondary's engine works on (the
// main one standing in for its standby).
#pragma once

#include "db/migrations.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "support/test_support.h"

namespace georep::test {

class TwoDbTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    main_ = Connect();
    ASSERT_TRUE(db::Migrate(*main_, db::DatabaseKind::kMain).ok());
    tracking_name_ = dbname_ + "_tr";
    auto admin = db::Connection::Open(PgServer::Get().Conninfo("postgres"));
    ASSERT_TRUE((*admin)->Exec("CREATE DATABASE " + tracking_name_).ok());
    tracking_conninfo_ = PgServer::Get().Conninfo(tracking_name_);
    tracking_ = std::move(*db::Connection::Open(tracking_conninfo_));
    ASSERT_TRUE(db::Migrate(*tracking_, db::DatabaseKind::kTracking).ok());
    ASSERT_TRUE(main_
                    ->ExecScript("CREATE SCHEMA t; CREATE TABLE t.files (id bigserial PRIMARY KEY, "
                                 "path text NOT NULL)")
                    .ok());
    spec_ = {"file", "File", Strategy::kBlob, "t.files", "id", "{path}", "test"};
    ASSERT_TRUE(framework::EnsureRegistryTable(*tracking_, spec_).ok());
    storage_ = MakeTempDir("storage");
  }
  void TearDown() override {
    tracking_.reset();
    auto admin = db::Connection::Open(PgServer::Get().Conninfo("postgres"));
    if (admin.ok())
      (void)(*admin)->Exec("DROP DATABASE IF EXISTS " + tracking_name_ + " WITH (FORCE)");
    RemoveTree(storage_);
    PgTest::TearDown();
  }
  int64_t CountState(int state) {
    auto r = tracking_->Exec("SELECT count(*) FROM georep.file_registry WHERE state = $1",
                             {std::to_string(state)});
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  int64_t RegistryRows() {
    auto r = tracking_->Exec("SELECT count(*) FROM georep.file_registry");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }

  std::unique_ptr<db::Connection> main_;
  std::unique_ptr<db::Connection> tracking_;
  std::string tracking_name_;
  std::string tracking_conninfo_;
  std::string storage_;
  ReplicableSpec spec_;
};

}  // namespace georep::test
