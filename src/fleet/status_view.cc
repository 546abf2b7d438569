#include "fleet/status_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace georep::fleet {
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
  if (j.contains("fence") && j["fence"].is_object()) {
    absl::StrAppend(&out, "FENCED    since ", Str(j["fence"], "since"), " (",
                    Str(j["fence"], "reason"),
                    "): the application's roles may not connect, transactions are read-only\n");
  }
  if (j.value("paused", false)) {
    absl::StrAppend(&out,
                    "PAUSED    by an operator: no replay, sync or verification until "
                    "`georep replication resume`\n");
  }
  if (j["role"] == "secondary" && j.contains("selective_sync") &&
      j["selective_sync"].value("type", "none") != "none") {
    const auto& sel = j["selective_sync"];
    const bool by_ns = sel.value("type", "") == "namespaces";
    std::string names;
    for (const auto& n : sel.value(by_ns ? "namespaces" : "shards", nlohmann::json::array()))
      absl::StrAppend(&names, names.empty() ? "" : ", ", n.is_string() ? n.get<std::string>() : "");
    absl::StrAppend(&out, "holds     only the ", by_ns ? "namespaces " : "shards ", names,
                    " (selective sync; counts below are of those)\n");
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
  // The types this site does not replicate, then one line per replicable
  // that has anything to show.
  if (j.contains("replicables")) {
    std::string off;
    for (const auto& r : j["replicables"]) {
      if (r.value("disabled", false))
        absl::StrAppend(&off, off.empty() ? "" : ", ", Str(r, "name"));
    }
    if (!off.empty()) absl::StrAppend(&out, "disabled  ", off, " (not replicated here)\n");
  }
  if (j.contains("replicables")) {
    bool primary = j["role"] == "primary";
    bool header = false;
    std::vector<std::string> lost;  // "name count" of items lost in failover
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
      if (!primary && n("lost") > 0) lost.push_back(absl::StrCat(Str(r, "name"), " ", n("lost")));
    }
    if (!lost.empty()) {
      absl::StrAppend(&out, "lost in failover (not fetched; `georep dataloss` says which): ",
                      absl::StrJoin(lost, ", "), "\n");
    }
  }
  return out;
}

std::string RenderSites(const std::string& sites_json, bool* all_healthy) {
  *all_healthy = true;
  nlohmann::json sites = nlohmann::json::parse(sites_json, nullptr, false);
  if (!sites.is_array()) {
    *all_healthy = false;
    return sites_json;
  }
  std::string out =
      absl::StrFormat("%-20s %-9s %-8s %-10s %8s %8s %19s %9s %7s\n", "site", "role", "enabled",
                      "health", "report", "lag", "synced/registry", "verified", "failed");
  std::string reasons;
  std::string lost_lines;  // secondaries with items lost in failover
  for (const auto& s : sites) {
    if (!s.is_object()) continue;
    const nlohmann::json& health = s.contains("health") ? s["health"] : nlohmann::json();
    std::string verdict = "-";
    if (health.is_object() && health["healthy"].is_boolean()) {
      bool ok = health["healthy"].get<bool>();
      verdict = ok ? "OK" : "UNHEALTHY";
      if (!ok) *all_healthy = false;
      for (const char* key : {"reasons", "notes"}) {
        if (!health[key].is_array()) continue;
        for (const auto& r : health[key]) {
          if (r.is_string()) {
            absl::StrAppend(&reasons, "  ", Str(s, "name"), ": ", r.get<std::string>(), "\n");
          }
        }
      }
    }
    const nlohmann::json& status = s.contains("status") ? s["status"] : nlohmann::json();
    int64_t synced = 0, registry = 0, verified = 0, failed = 0, lost = 0;
    std::string lag = "-";
    if (status.is_object()) {
      if (status["replicables"].is_array()) {
        for (const auto& r : status["replicables"]) {
          auto n = [&](const char* key) {
            return r.is_object() && r.contains(key) && r[key].is_number_integer()
                       ? r[key].get<int64_t>()
                       : int64_t{0};
          };
          synced += n("synced");
          registry += n("registry");
          verified += n("verified");
          failed += n("failed") + n("verification_failed");
          lost += n("lost");
        }
      }
      if (status["database"].is_object() && status["database"]["replay_lag_seconds"].is_number()) {
        lag = absl::StrFormat("%.1fs", status["database"]["replay_lag_seconds"].get<double>());
      }
    }
    std::string age = s.contains("report_age_seconds") && s["report_age_seconds"].is_number()
                          ? absl::StrFormat("%.0fs", s["report_age_seconds"].get<double>())
                          : "-";
    bool primary = s.value("primary", false) == true;
    std::string counts = primary || !status.is_object() ? "-" : absl::StrCat(synced, "/", registry);
    absl::StrAppend(&out,
                    absl::StrFormat("%-20s %-9s %-8s %-10s %8s %8s %19s %9s %7s\n",
                                    Str(s, "name") + (s.value("current", false) == true ? "*" : ""),
                                    primary ? "primary" : "secondary", Str(s, "enabled"), verdict,
                                    primary ? "-" : age, primary ? "-" : lag, counts,
                                    primary || !status.is_object() ? "-" : absl::StrCat(verified),
                                    primary || !status.is_object() ? "-" : absl::StrCat(failed)));
    if (!primary && lost > 0) {
      absl::StrAppend(
          &lost_lines, "  ", Str(s, "name"), ": ", lost,
          " items lost in failover, not fetched (`georep dataloss` on it says which)\n");
    }
  }
  if (!lost_lines.empty()) absl::StrAppend(&out, "\n", lost_lines);
  if (!reasons.empty()) absl::StrAppend(&out, "\n", reasons);
  absl::StrAppend(&out, "(* the site that answered)\n");
  return out;
}

}  // namespace georep::fleet
