#include "framework/registry/lost_in_failover.h"

#include "absl/strings/str_cat.h"
#include "framework/registry/registry_store.h"

namespace georep::framework {

absl::Status RecordLost(db::Connection& main, const std::vector<LostItem>& items,
                        const std::string& old_primary, const std::string& new_primary) {
  if (items.empty()) return absl::OkStatus();
  std::vector<std::string> names, reasons;
  std::vector<int64_t> ids;
  for (const LostItem& item : items) {
    names.push_back(item.replicable);
    ids.push_back(item.model_id);
    reasons.push_back(item.reason);
  }
  return main
      .Exec(
          "INSERT INTO georep.lost_in_failover (replicable, model_id, old_primary, new_primary, "
          "reason) SELECT n, id, $4, $5, left(why, 1000) "
          "FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(n, id, why) "
          "ON CONFLICT (replicable, model_id) DO NOTHING",
          {db::TextArray(names), db::BigintArray(ids), db::TextArray(reasons), old_primary,
           new_primary})
      .status();
}

absl::StatusOr<std::vector<LostFailover>> ReadLostFailovers(db::Connection& main) {
  auto r = main.Exec(
      "SELECT old_primary, new_primary, "
      "to_char(failover_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), replicable, "
      "count(*) FROM georep.lost_in_failover "
      "GROUP BY old_primary, new_primary, failover_at, replicable "
      "ORDER BY failover_at, replicable");
  if (!r.ok()) return r.status();
  std::vector<LostFailover> out;
  for (int i = 0; i < r->rows(); ++i) {
    std::string at(r->Get(i, 2));
    std::string old_primary(r->Get(i, 0)), new_primary(r->Get(i, 1));
    if (out.empty() || out.back().failover_at != at || out.back().old_primary != old_primary ||
        out.back().new_primary != new_primary) {
      out.push_back({.old_primary = old_primary, .new_primary = new_primary, .failover_at = at});
    }
    int64_t n = r->GetInt64(i, 4);
    out.back().items[std::string(r->Get(i, 3))] += n;
    out.back().total += n;
  }
  return out;
}

absl::StatusOr<LostIds> ReadLostIds(db::Connection& main, const ReplicableSpec& spec) {
  auto r = main.Exec(
      "SELECT model_id, 'lost in the failover from ' || old_primary || ' to ' || new_primary || "
      "' at ' || to_char(failover_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || "
      "' UTC (' || reason || '); recoverable from the old primary''s storage' "
      "FROM georep.lost_in_failover WHERE replicable = $1 ORDER BY model_id",
      {spec.name});
  if (!r.ok()) return r.status();
  LostIds out;
  for (int i = 0; i < r->rows(); ++i) {
    out.ids.push_back(r->GetInt64(i, 0));
    out.reasons.emplace_back(r->Get(i, 1));
  }
  return out;
}

absl::StatusOr<int64_t> ForgetLost(db::Connection& main, const std::string& replicable,
                                   const std::vector<int64_t>& ids) {
  auto r = main.Exec(
      "DELETE FROM georep.lost_in_failover WHERE replicable = $1 AND model_id = ANY($2::bigint[])",
      {replicable, db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<int64_t> FollowLostRecords(db::Connection& standby, db::Connection& tracking,
                                          const std::vector<ReplicableSpec>& specs) {
  int64_t changed = 0;
  for (const ReplicableSpec& spec : specs) {
    auto lost = ReadLostIds(standby, spec);
    if (!lost.ok()) return lost.status();
    auto n = MarkLost(tracking, spec, lost->ids, lost->reasons);
    if (!n.ok()) return n.status();
    changed += *n;
  }
  return changed;
}

}  // namespace georep::framework
