#include "events/publish.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/registry/primary_states.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"

namespace georep::events {

absl::StatusOr<int64_t> PublishEvent(db::Connection& conn, const std::string& replicable,
                                     int64_t model_id, framework::EventKind event,
                                     const std::string& payload_json) {
  auto r = conn.Exec(
      "SELECT georep.publish_event($1, $2, $3, $4::jsonb)",
      {replicable, absl::StrCat(model_id), framework::EventKindName(event), payload_json});
  if (!r.ok()) return r.status();
  return r->GetInt64(0, 0);
}

absl::Status PublishRepositoryUpdated(db::Connection& main, const ReplicableSpec& spec,
                                      int64_t model_id) {
  return db::InTransaction(main, [&]() -> absl::Status {
    if (auto r = PublishEvent(main, spec.name, model_id, framework::EventKind::kUpdated); !r.ok())
      return r.status();
    if (auto n = main.Exec("SELECT pg_notify('georep_checksum', '')"); !n.ok()) return n.status();
    return framework::ResetState(main, spec, model_id);
  });
}

absl::StatusOr<std::vector<std::string>> InstallPublishTriggers(
    db::Connection& main, const std::vector<ReplicableSpec>& specs) {
  std::vector<std::string> missing;
  // The triggers write the states tables: those first (each in its own transaction).
  for (const ReplicableSpec& spec : specs) {
    auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
    if (!exists.ok()) return exists.status();
    if (!exists->GetBool(0, 0)) continue;
    if (auto st = framework::EnsureStateTable(main, spec); !st.ok()) return st;
  }
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    if (auto r = main.Exec("SELECT pg_advisory_xact_lock(hashtext('georep.publish_triggers'))");
        !r.ok()) {
      return r.status();
    }
    for (const ReplicableSpec& spec : specs) {
      auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
      if (!exists.ok()) return exists.status();
      if (!exists->GetBool(0, 0)) {
        missing.push_back(spec.name);
        continue;
      }
      std::string sql = absl::StrReplaceAll(
          framework::StateSql(R"sql(
CREATE OR REPLACE FUNCTION georep.publish_$NAME() RETURNS trigger LANGUAGE plpgsql
  -- Runs as Georep's role, not the application's, which needs no right on
  -- the georep schema; a fixed search_path, so the application's role cannot
  -- put its own objects in the way.
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  -- The event, and the primary's checksum state of the row: a new or changed
  -- row is checksummed (again), a deleted one forgotten.
  IF TG_OP = 'INSERT' THEN
    PERFORM georep.publish_event('$NAME', NEW.$ID, $E_CREATED);
    $RESET_NEW;
    PERFORM pg_notify('georep_checksum', '');
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM georep.publish_event('$NAME', OLD.$ID, $E_DELETED, jsonb_build_object('path', $OLDPATH));
    $FORGET_OLD;
  ELSE
    IF NEW.$ID IS DISTINCT FROM OLD.$ID THEN
      PERFORM georep.publish_event('$NAME', OLD.$ID, $E_DELETED, jsonb_build_object('path', $OLDPATH));
      PERFORM georep.publish_event('$NAME', NEW.$ID, $E_CREATED);
      $FORGET_OLD;
    ELSIF $OLDPATH IS DISTINCT FROM $NEWPATH THEN
      PERFORM georep.publish_event('$NAME', NEW.$ID, $E_UPDATED, jsonb_build_object('old_path', $OLDPATH));
    ELSE
      PERFORM georep.publish_event('$NAME', NEW.$ID, $E_UPDATED);
    END IF;
    $RESET_NEW;
    PERFORM pg_notify('georep_checksum', '');
  END IF;
  RETURN NULL;
END $fn$;
-- One pair per replicable: several replicables may share a model table.
DROP TRIGGER IF EXISTS georep_publish ON $TABLE;
DROP TRIGGER IF EXISTS georep_publish_update ON $TABLE;
DROP TRIGGER IF EXISTS georep_publish_$NAME ON $TABLE;
DROP TRIGGER IF EXISTS georep_publish_update_$NAME ON $TABLE;
CREATE TRIGGER georep_publish_$NAME AFTER INSERT OR DELETE ON $TABLE
  FOR EACH ROW EXECUTE FUNCTION georep.publish_$NAME();
CREATE TRIGGER georep_publish_update_$NAME AFTER UPDATE ON $TABLE
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION georep.publish_$NAME();
)sql"),
          {{"$NAME", spec.name},
           {"$ID", framework::QuotedIdColumn(spec)},
           {"$TABLE", framework::QuotedTable(spec)},
           {"$RESET_NEW", framework::ResetStateSql(spec, "NEW." + framework::QuotedIdColumn(spec))},
           {"$FORGET_OLD",
            framework::ForgetStateSql(spec, "OLD." + framework::QuotedIdColumn(spec))},
           {"$OLDPATH", framework::PathSql(spec, "OLD")},
           {"$NEWPATH", framework::PathSql(spec, "NEW")}});
      if (auto st = main.ExecScript(sql); !st.ok()) {
        return absl::Status(st.code(),
                            absl::StrCat("publish triggers of ", spec.name, ": ", st.message()));
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return missing;
}

}  // namespace georep::events
