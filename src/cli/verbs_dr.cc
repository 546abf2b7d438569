// dataloss: what this secondary would lack if it were promoted now;
// replication pause|resume: an operator's pause of a secondary.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "failover/loss_report.h"
#include "framework/registry/dataloss.h"
#include "framework/spec/spec.h"
#include "nlohmann/json.hpp"
#include "site/pause.h"
#include "site/sites.h"
#include "transport/http_client.h"

namespace georep::cli {
namespace {

int RunDataloss(const config::Config& config, bool json) {
  const char* verb = "dataloss";
  SecondaryDatabases dbs;
  if (int code = OpenSecondary(config, verb, &dbs); code != 0) return code;
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, verb, specs.status().message());
  auto sites = site::ListSites(*dbs.standby);
  if (!sites.ok()) return Fail(1, verb, sites.status().message());
  std::optional<site::Site> primary;
  for (const auto& s : *sites) {
    if (s.primary && s.name != config.site_name) primary = s;
  }
  auto report = failover::ComputeLoss(config.site_name, *dbs.standby, *dbs.tracking, *specs,
                                      primary, std::nullopt);
  if (!report.ok()) return Fail(1, verb, report.status().message());
  if (json) {
    std::puts(report->Json().dump(2).c_str());
  } else {
    report->Print(stdout);
  }
  return report->would_lose_data ? 1 : 0;
}

// Who paused: user@host, for the status.
std::string Operator() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const char* user = std::getenv("USER");
  return absl::StrCat(user == nullptr ? "unknown" : user, "@", host);
}

int RunPause(const config::Config& config, bool pause) {
  const char* verb = pause ? "replication pause" : "replication resume";
  SecondaryDatabases dbs;
  if (int code = OpenSecondary(config, verb, &dbs); code != 0) return code;
  auto& standby = dbs.standby;
  auto& tracking = dbs.tracking;
  absl::Status s = pause ? site::PauseReplication(*tracking, *standby, Operator())
                         : site::ResumeReplication(*tracking, *standby);
  if (!s.ok()) return Fail(CodeFor(s), verb, s.message());
  if (pause) {
    std::printf(
        "site \"%s\" paused: WAL replay stopped; sync and verification stop within a second and "
        "stay stopped across restarts until `georep replication resume`\n",
        config.site_name.c_str());
  } else {
    std::printf("site \"%s\" resumed: replay, sync and verification continue\n",
                config.site_name.c_str());
  }
  return 0;
}

}  // namespace

void AddDisasterRecoveryVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* replication = app.add_subcommand("replication", "Pause or resume a secondary");
  replication->require_subcommand(1);
  for (bool pause : {true, false}) {
    CLI::App* sub = replication->add_subcommand(
        pause ? "pause" : "resume",
        pause ? "Secondary: pause WAL replay and all sync and verification work (kept across "
                "restarts of the daemon and of the standby until resumed)"
              : "Secondary: resume what `replication pause` stopped; nothing is lost, nothing "
                "fetched twice");
    AddConfig(sub, ctx);
    sub->callback([&ctx, pause] {
      auto config = LoadConfigOrFail(ctx);
      if (config) ctx.exit_code = RunPause(*config, pause);
    });
  }

  CLI::App* dataloss = app.add_subcommand(
      "dataloss",
      "Secondary: what it would lack if promoted now: WAL not replayed (asked of the primary; "
      "when it cannot be reached, the last commit replayed here), events not applied, and every "
      "item not synced and verified, by id. Exit 0 when nothing would be lost, 1 otherwise.");
  AddConfig(dataloss, ctx);
  auto json = std::make_shared<bool>(false);
  dataloss->add_flag("--json", *json, "Print JSON");
  dataloss->callback([&ctx, json] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunDataloss(*config, *json);
  });
}

}  // namespace georep::cli
