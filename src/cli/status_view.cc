#include "cli/status_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace georep::cli {
namespace {

std::string Bytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(n, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string Str(const nlohmann::json& j, const char* key, const char* fallback = "-") {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace

std::string RenderStatus(const std::string& status_json) {
  nlohmann::json j = nlohmann::json::parse(status_json, nullptr, false);
  if (j.is_discarded() || !j.contains("site") || !j.contains("database")) return status_json;
  const auto& db = j["database"];
  std::string out =
      absl::StrFormat("site      %s (%s)  %s\n", Str(j, "site"), Str(j, "role"), Str(j, "url"));
  if (j.contains("health") && j["health"].is_object()) {
    const auto& h = j["health"];
    if (h.value("healthy", false)) {
      absl::StrAppend(&out, "health    OK\n");
    } else {
      for (const auto& r : h.value("reasons", nlohmann::json::array()))
        absl::StrAppend(
            &out, "health    UNHEALTHY: ", r.is_string() ? r.get<std::string>() : r.dump(), "\n");
    }
  }
  if (!db.value("reachable", false)) {
    absl::StrAppend(&out, "database  UNREACHABLE: ", Str(db, "error"), "\n");
  }
  if (j.value("paused", false)) {
    absl::StrAppend(&out,
                    "PAUSED    by an operator: no replay, sync or verification until "
                    "`georep replication resume`\n");
  }
  if (j["role"] == "secondary") {
    absl::StrAppend(&out,
                    absl::StrFormat("database  %s, replay lag %.1f s, backlog %s\n"
                                    "          receive %s, replay %s\n",
                                    db.value("streaming", false) ? "streaming" : "NOT STREAMING",
                                    db.value("replay_lag_seconds", 0.0),
                                    Bytes(db.value("replay_backlog_bytes", int64_t{0})),
                                    Str(db, "receive_lsn"), Str(db, "replay_lsn")));
  } else if (db.value("reachable", false) && db.contains("standbys")) {
    absl::StrAppend(&out, "database  primary at ", Str(db, "current_lsn"), ", ",
                    db["standbys"].size(), " replication slot(s)\n");
    for (const auto& s : db["standbys"]) {
      absl::StrAppend(
          &out,
          absl::StrFormat("          slot %-22s %-9s retains %-10s %s\n", Str(s, "slot"),
                          s.value("active", false) ? "streaming" : "idle",
                          Bytes(s.value("retained_bytes", int64_t{0})), Str(s, "client", "")));
    }
  }
  // One line per replicable that has anything to show.
  if (j.contains("replicables")) {
    bool primary = j["role"] == "primary";
    bool header = false;
    for (const auto& r : j["replicables"]) {
      auto n = [&](const char* key) {
        return r.contains(key) ? r[key].get<int64_t>() : int64_t{0};
      };
      if (primary ? n("checksummed") + n("checksum_failed") + n("checksum_pending") == 0
                  : n("registry") == 0) {
        continue;
      }
      if (!header) {
        absl::StrAppend(
            &out, primary ? absl::StrFormat("%-27s %12s %8s %8s\n", "replicable", "checksummed",
                                            "failed", "pending")
                          : absl::StrFormat("%-27s %9s %9s %9s %7s %9s\n", "replicable", "synced",
                                            "of", "verified", "failed", "pending"));
        header = true;
      }
      absl::StrAppend(
          &out, primary ? absl::StrFormat("%-27s %12d %8d %8d\n", Str(r, "name"), n("checksummed"),
                                          n("checksum_failed"), n("checksum_pending"))
                        : absl::StrFormat("%-27s %9d %9d %9d %7d %9d\n", Str(r, "name"),
                                          n("synced"), n("registry"), n("verified"),
                                          n("failed") + n("verification_failed"),
                                          n("pending") + n("started")));
    }
  }
  return out;
}

}  // namespace georep::cli
