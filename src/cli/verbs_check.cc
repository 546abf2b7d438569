// check: a site's set-up checked one line at a time, each OK or FAIL with
// what to do, and the verdict in the exit status.
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/verbs.h"
#include "db/migrations.h"
#include "framework/spec/spec.h"
#include "framework/sync/strategy.h"
#include "nlohmann/json.hpp"
#include "site/role.h"
#include "site/sites.h"
#include "site/upstream.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/net.h"

namespace georep::cli {
namespace {

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;  // what was found, or what to do
};

class Checker {
 public:
  explicit Checker(config::Config config) : config_(std::move(config)) {}
  std::vector<Check> Run();

 private:
  void Add(const std::string& name, bool ok, const std::string& detail) {
    checks_.push_back({name, ok, detail});
  }
  void Database(const char* what, const std::string& setting, const std::string& conninfo,
                db::DatabaseKind kind, std::unique_ptr<db::Connection>* out);
  void Secondary(db::Connection& standby, const site::RoleState& role);
  void Primary(db::Connection& main, const site::RoleState& role);
  void Daemon();
  void Declared(db::Connection& main);

  config::Config config_;
  std::vector<Check> checks_;
};

void Checker::Database(const char* what, const std::string& setting, const std::string& conninfo,
                       db::DatabaseKind kind, std::unique_ptr<db::Connection>* out) {
  auto conn = db::Connection::Open(conninfo);
  if (!conn.ok()) {
    Add(what, false,
        absl::StrCat(conn.status().message(), "; check \"", setting, "\" in ", config_.path));
    return;
  }
  if (auto s = db::CheckSchema(**conn, kind); !s.ok()) {
    Add(what, false,
        absl::StrCat(s.message(), "; run `georep db migrate --config ", config_.path, "`"));
    return;
  }
  Add(what, true, absl::StrCat((*conn)->display_name(), ", schema current"));
  *out = std::move(*conn);
}

void Checker::Secondary(db::Connection& standby, const site::RoleState& role) {
  std::unique_ptr<db::Connection> tracking;
  Database("tracking database", "database.tracking", config_.tracking_database,
           db::DatabaseKind::kTracking, &tracking);
  auto pos = site::ReadLocalPosition(standby);
  if (!pos.ok()) {
    Add("standby streaming", false, std::string(pos.status().message()));
  } else if (!pos->streaming) {
    Add("standby streaming", false,
        "its WAL receiver is not streaming: check the primary's PostgreSQL, primary_conninfo "
        "and the PostgreSQL log of this standby (after a promotion: `georep follow`)");
  } else {
    Add("standby streaming", true,
        absl::StrCat("from ", pos->streaming_from, ", replayed up to ",
                     site::FormatLsn(pos->replayed)));
  }
  if (!role.primary) {
    Add("primary's daemon", false, "geo_nodes names no primary");
    return;
  }
  std::string url = role.primary->InternalUrl();
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto status = transport::HttpRequest(url + "/api/v1/status", {.timeout_seconds = 10});
  auto j = status.ok() ? nlohmann::json::parse(status->body, nullptr, false) : nlohmann::json();
  if (!status.ok()) {
    Add("primary's daemon", false,
        absl::StrCat(url, ": ", status.status().message(), "; is it running and reachable?"));
    return;
  }
  if (status->status != 200 || !j.is_object() || j.value("role", "") != "primary") {
    Add("primary's daemon", false,
        absl::StrCat(url, "/api/v1/status answered HTTP ", status->status,
                     j.is_object() ? absl::StrCat(", role ", j.value("role", "?")) : ""));
    return;
  }
  Add("primary's daemon", true, absl::StrCat(role.primary->name, " at ", url));
  // The key: a signed request for a row that cannot exist is a 404 once the
  // primary has accepted the signature.
  std::string key = config_.access_key, secret = config_.secret_access_key;
  if (auto s = site::FillKeysFromRow(standby, config_.site_name, &key, &secret); !s.ok()) {
    Add("Geo key", false, std::string(s.message()));
    return;
  }
  auto specs = framework::ResolveSpecs(config_.replicables);
  std::string blob;
  if (specs.ok()) {
    for (const auto& spec : *specs) {
      if (spec.strategy == Strategy::kBlob) {
        blob = spec.name;
        break;
      }
    }
  }
  if (blob.empty()) return;
  int64_t id = std::numeric_limits<int64_t>::max();
  std::string auth = transport::MakeGeoAuthorization(
      key, secret, transport::BlobRequestData(blob, id), static_cast<int64_t>(WallSeconds()));
  auto probe =
      transport::HttpRequest(absl::StrCat(url, "/geo/retrieve/", blob, "/", id),
                             {.headers = {"Authorization: " + auth}, .timeout_seconds = 10});
  if (probe.ok() && probe->status == 404) {
    Add("Geo key", true, "accepted by the primary");
  } else {
    Add("Geo key", false,
        probe.ok() ? absl::StrCat("the primary answered HTTP ", probe->status, ": ",
                                  probe->body.substr(0, 200), "; check auth.* in ", config_.path,
                                  " and that the site is enabled (`georep site list`)")
                   : std::string(probe.status().message()));
  }
}

// A primary's database is not fenced, and no other site says it is the
// primary: after a promotion the old primary must not run as one.
void Checker::Primary(db::Connection& main, const site::RoleState& role) {
  if (role.fence) {
    Add("database fence", false,
        absl::StrCat("fenced since ", role.fence->since, " (", role.fence->reason,
                     "): the application's roles may not connect and transactions are read-only; "
                     "`georep demote` makes this site a secondary of the new primary, or "
                     "`georep maintenance off --database` lifts the fence if no site was "
                     "promoted"));
  } else {
    Add("database fence", true, "none: the application may write");
  }
  auto sites = site::ListSites(main);
  if (!sites.ok()) {
    Add("only primary", false, std::string(sites.status().message()));
    return;
  }
  failover::PrimaryClaims claims = failover::OtherPrimaries(*sites, role.self.name);
  if (!claims.others.empty()) {
    Add("only primary", false,
        absl::StrCat("two primaries: ", absl::StrJoin(claims.others, ", "),
                     " says it is the primary too; this site was promoted away and must not run "
                     "as a primary: demote it (`georep demote`)"));
  } else {
    Add("only primary", true,
        absl::StrCat(
            "no other site says it is the primary (", claims.asked, " asked",
            claims.unreachable.empty()
                ? ""
                : absl::StrCat("; no answer from ", absl::StrJoin(claims.unreachable, ", ")),
            ")"));
  }
}

// Each [[replicable]] of the file against the application's table, as
// `serve` checks it at start-up.
void Checker::Declared(db::Connection& main) {
  auto specs = framework::ResolveSpecs(config_.replicables);
  if (!specs.ok()) {
    Add("replicables", false, std::string(specs.status().message()));
    return;
  }
  for (const auto& spec : *specs) {
    if (spec.origin == "built-in") continue;
    std::string what = "replicable " + spec.name;
    auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
    if (!exists.ok()) {
      Add(what, false, std::string(exists.status().message()));
    } else if (!exists->GetBool(0, 0)) {
      Add(what, true,
          absl::StrCat("no table ", spec.model_table, " here yet: nothing to replicate"));
    } else if (auto s = framework::CheckDeclaredSql(main, spec); !s.ok()) {
      Add(what, false, std::string(s.message()));
    } else {
      Add(what, true,
          absl::StrCat(spec.model_table, ": id, path",
                       spec.checksum_column.empty() ? "" : " and checksum column",
                       " accepted by the database"));
    }
  }
}

void Checker::Daemon() {
  auto hp = ParseHostPort(config_.http_listen);
  if (!hp.ok()) {
    Add("daemon", false, std::string(hp.status().message()));
    return;
  }
  std::string url = config::ListenUrl(config_);
  auto res = transport::HttpRequest(url + "/api/v1/health", {.timeout_seconds = 10});
  if (!res.ok()) {
    Add("daemon healthy", false,
        absl::StrCat(url, ": ", res.status().message(), "; start it: `georep serve --config ",
                     config_.path, "`"));
    return;
  }
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  std::vector<std::string> reasons;
  if (j.is_object() && j.value("reasons", nlohmann::json()).is_array()) {
    for (const auto& r : j["reasons"]) {
      if (r.is_string()) reasons.push_back(r);
    }
  }
  if (res->status == 200) {
    Add("daemon healthy", true, url);
  } else {
    Add("daemon healthy", false,
        reasons.empty() ? absl::StrCat("HTTP ", res->status) : absl::StrJoin(reasons, "; "));
  }
}

std::vector<Check> Checker::Run() {
  Add("configuration", true, config_.path);
  std::unique_ptr<db::Connection> main;
  Database("main database", "database.main", config_.main_database, db::DatabaseKind::kMain, &main);
  if (main) {
    auto role = site::ReadRole(*main, config_.site_name);
    if (!role.ok()) {
      Add("site row", false,
          absl::StrCat(role.status().message(), "; add it on the primary with `georep site add`"));
    } else {
      bool primary = role->self.primary;
      bool consistent = primary != role->standby;
      Add("site row", consistent,
          consistent
              ? absl::StrCat(config_.site_name, ", ", primary ? "the primary" : "a secondary",
                             role->self.enabled ? "" : " (DISABLED)")
              : absl::StrCat(config_.site_name, " is ", primary ? "the primary" : "a secondary",
                             " in geo_nodes but its main database ",
                             role->standby ? "is a standby" : "is writable"));
      if (!primary && role->standby) Secondary(*main, *role);
      if (primary && !role->standby) Primary(*main, *role);
    }
    Declared(*main);
  }
  for (const auto& [what, dir] :
       {std::pair<const char*, std::string>{"storage root", config_.storage_root},
        {"repository root", config_.repository_root}}) {
    bool ok = access(dir.c_str(), W_OK | X_OK) == 0;
    Add(what, ok, ok ? dir : absl::StrCat(dir, " is missing or not writable by this user"));
  }
  Daemon();
  return checks_;
}

int RunCheck(const config::Config& config, bool json) {
  std::vector<Check> checks = Checker(config).Run();
  int failed = 0;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : checks) {
    if (!c.ok) ++failed;
    if (json) {
      list.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    } else {
      std::printf("%-20s %-4s %s\n", c.name.c_str(), c.ok ? "OK" : "FAIL", c.detail.c_str());
    }
  }
  if (json) {
    std::puts(nlohmann::json{{"site", config.site_name}, {"failed", failed}, {"checks", list}}
                  .dump(2)
                  .c_str());
  } else {
    if (failed == 0) {
      std::printf("\nall %zu checks passed\n", checks.size());
    } else {
      std::printf("\n%d of %zu checks FAILED\n", failed, checks.size());
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void AddCheckVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* check = app.add_subcommand(
      "check",
      "Check a site's set-up, one line per check (configuration, databases and schema, its row "
      "in geo_nodes, on a secondary the standby's streaming, the primary's daemon and the Geo "
      "key, storage folders, the daemon's health), each OK or FAIL with what to do; exit 1 on "
      "any FAIL");
  AddConfig(check, ctx);
  auto json = std::make_shared<bool>(false);
  check->add_flag("--json", *json, "Print the checks as JSON");
  check->callback([&ctx, json] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunCheck(*config, *json);
  });
}

}  // namespace georep::cli
