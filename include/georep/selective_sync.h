// What a secondary holds: everything, or only the items of some namespaces
// (a group and all its subgroups, by full path: "a" holds "a", "a/b", …) or
// of some shards (the repository storage a project lives on).
//
// It is set per site in geo_nodes (`georep site update NAME --selective-sync
// …` or PUT /api/v1/sites/NAME), so every secondary reads its own selection
// from its standby. A replicable takes part by saying, in its declaration,
// how a model row maps to a namespace path and to a shard
// (ReplicableSpec::namespace_sql and shard_sql); one SQL predicate built from
// both (framework::ScopeSql) is what the backfill, the log cursor, Git on the
// secondary and the data-loss report all use. An item that maps to no
// namespace (or shard), and every item of a replicable that declares no
// mapping, is in every selection.
#pragma once

#include <string>
#include <vector>

namespace georep {

struct SelectiveSync {
  enum class Kind { kNone, kNamespaces, kShards };
  Kind kind = Kind::kNone;
  std::vector<std::string> namespaces;  // full paths; used when kind is kNamespaces
  std::vector<std::string> shards;      // storage names; used when kind is kShards

  bool active() const { return kind != Kind::kNone; }
  bool operator==(const SelectiveSync&) const = default;
};

// "none", "namespaces", "shards": the names the CLI, the API and geo_nodes use.
constexpr const char* SelectiveSyncKindName(SelectiveSync::Kind k) {
  switch (k) {
    case SelectiveSync::Kind::kNone:
      return "none";
    case SelectiveSync::Kind::kNamespaces:
      return "namespaces";
    case SelectiveSync::Kind::kShards:
      return "shards";
  }
  return "none";
}

}  // namespace georep
