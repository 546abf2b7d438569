// promote: a secondary becomes the primary (failover/promotion.h does it;
// this prints what it did); maintenance on|off|status: the primary's
// maintenance mode and database fence by hand.
#include <cstdio>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/verbs.h"
#include "db/connection.h"
#include "failover/loss_report.h"
#include "failover/peers.h"
#include "failover/promotion.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/role.h"
#include "site/sites.h"
#include "site/upstream.h"

namespace georep::cli {
namespace {

struct PromoteFlags {
  bool force = false;
  bool yes = false;
  bool json = false;
  double timeout_seconds = 300;
};

nlohmann::json FollowersJson(const failover::PromotionOutcome& o) {
  nlohmann::json followers = nlohmann::json::array();
  for (const auto& f : o.followers) {
    nlohmann::json fj = {{"site", f.site.name}, {"detached", f.detached}};
    if (f.detached) fj["received_lsn"] = site::FormatLsn(f.received);
    if (!f.error.empty()) fj["error"] = f.error;
    followers.push_back(fj);
  }
  return followers;
}

// What a promotion did, as JSON or as lines; its exit status.
int PrintOutcome(const failover::PromotionOutcome& o, const PromoteFlags& flags,
                 const config::Config& config) {
  if (!o.promoted) {
    // A planned promotion that timed out shows where it stood.
    if (o.report && absl::IsDeadlineExceeded(o.error)) {
      if (flags.json) {
        std::puts(
            nlohmann::json{{"promoted", false}, {"report", o.report->Json()}}.dump(2).c_str());
      } else {
        o.report->Print(stderr);
      }
    }
    return Fail(CodeFor(o.error), "promote", o.error.message());
  }
  const failover::LossReport report = o.report.value_or(failover::LossReport{});
  if (flags.json) {
    nlohmann::json j = {
        {"site", o.site},
        {"planned", !flags.force},
        {"old_primary", o.old_primary},
        {"daemon_serving_as_primary", o.serving},
        {"rto_seconds", o.serving ? nlohmann::json(o.rto_seconds) : nlohmann::json()},
        {"promote_database_seconds", o.promote_database_seconds},
        {"would_lose_data", report.would_lose_data},
        {"recorded_lost_in_failover", o.recorded_lost},
        {"report", report.Json()},
        {"followers", FollowersJson(o)}};
    j["old_primary_fence"] = {
        {"fenced", o.old_fence.fenced},
        {"how", o.old_fence.fenced ? nlohmann::json(o.old_fence.how) : nlohmann::json()},
        {"error", o.old_fence.error.empty() ? nlohmann::json() : nlohmann::json(o.old_fence.error)},
        {"superuser_roles", o.old_fence.superuser_roles}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf("site \"%s\" is the primary now%s\n", o.site.c_str(),
                o.old_primary.empty()
                    ? ""
                    : absl::StrCat("; \"", o.old_primary, "\" is a disabled secondary").c_str());
    if (o.serving) {
      std::printf("RTO: %.1f s (from %s to the first write this site accepts)\n", o.rto_seconds,
                  flags.force ? "the confirmed promotion" : "the primary's maintenance mode");
    } else {
      std::printf(
          "its daemon is not serving as the primary yet: start it (`georep serve --config %s`)\n",
          config.path.c_str());
    }
    if (!o.old_primary.empty()) {
      std::printf("%s\n",
                  o.old_fence.fenced
                      ? absl::StrCat("the old primary's database is fenced (", o.old_fence.how,
                                     "): it refuses the application's writes until `georep "
                                     "demote` makes it a secondary")
                            .c_str()
                      : absl::StrCat("WARNING: the old primary's database was not fenced (",
                                     o.old_fence.error, "): it may still accept writes")
                            .c_str());
    }
    for (const auto& f : o.followers) {
      std::printf("site \"%s\" %s: on it run `georep follow --config <its config> --primary %s`\n",
                  f.site.name.c_str(),
                  f.detached ? "is detached from the old primary" : "was not detached",
                  o.site_url.c_str());
    }
    std::printf("RPO: %s\n",
                o.finished_earlier_one ? "as it stood when the promotion was cut short"
                : !report.would_lose_data
                    ? "0, nothing lost"
                    : absl::StrCat("what the report above lists (", report.Summary(), ")").c_str());
    if (o.recorded_lost > 0) {
      std::printf(
          "%lld items recorded lost in failover: every site stops fetching them; their bytes may "
          "still be on the old primary's storage: `georep salvage --primary %s` there, before "
          "`georep demote`, sends them back\n",
          static_cast<long long>(o.recorded_lost), o.site_url.c_str());
    }
  }
  return o.serving ? 0 : 1;
}

int RunPromote(const config::Config& config, const PromoteFlags& flags) {
  failover::PromotionOptions options{.force = flags.force,
                                     .timeout_seconds = flags.timeout_seconds};
  if (!flags.json) {
    options.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  }
  options.confirm = [&flags](const failover::LossReport& report) {
    if (!flags.json) report.Print(stdout);
    if (flags.yes) return true;
    std::printf("Promote site \"%s\" now, losing what is listed above? Type \"yes\": ",
                report.site.c_str());
    std::fflush(stdout);
    std::string answer;
    return std::getline(std::cin, answer) && answer == "yes";
  };
  return PrintOutcome(failover::Promote(config, options), flags, config);
}

struct MaintenanceOptions {
  std::string reason = "operator's maintenance";
  bool database = false;  // the database fence too
  bool force = false;     // off --database: even when other sites do not answer
};

int RunMaintenance(const config::Config& config, const std::string& action,
                   const MaintenanceOptions& o) {
  std::string verb = "maintenance " + action;
  auto main = OpenMain(config);
  if (!main.ok()) return Fail(1, verb, main.status().message());
  auto role = site::ReadRole(**main, config.site_name);
  if (!role.ok()) return Fail(CodeFor(role.status()), verb, role.status().message());
  if (action == "status") {
    std::printf(
        "maintenance mode: %s\n",
        role->maintenance ? absl::StrCat("on (", role->maintenance_reason, ")").c_str() : "off");
    std::printf("database fence: %s\n",
                role->fence
                    ? absl::StrCat("up since ", role->fence->since, " (", role->fence->reason,
                                   ", raised by ", role->fence->raised_by, ")")
                          .c_str()
                    : "none");
    return 0;
  }
  if (!role->self.primary || role->standby) {
    return Fail(
        2, verb,
        absl::StrCat("runs on the primary; site \"", config.site_name, "\" is a secondary"));
  }
  if (action == "on") {
    if (auto s = site::SetMaintenance(**main, true, o.reason); !s.ok())
      return Fail(1, verb, s.message());
    if (o.database) {
      auto fenced = site::RaiseFence(config.main_database, o.reason, "operator");
      if (!fenced.ok()) return Fail(1, verb, fenced.status().message());
      std::printf(
          "maintenance mode on and the database fenced: roles %s may not connect, %lld of their "
          "sessions ended, new transactions read-only\n",
          fenced->roles_fenced.empty() ? "(none)"
                                       : absl::StrJoin(fenced->roles_fenced, ", ").c_str(),
          static_cast<long long>(fenced->sessions_ended));
      return 0;
    }
    std::printf("maintenance mode on: the daemon refuses writes within a second\n");
    return 0;
  }
  if (role->fence && !o.database) {
    return Fail(
        1, verb,
        absl::StrCat("the database is fenced since ", role->fence->since, " (", role->fence->reason,
                     "): `georep maintenance off --database` lifts the fence with "
                     "maintenance mode, on a primary that was not promoted away"));
  }
  if (role->fence) {
    // A fenced primary whose promotion went through must stay fenced.
    auto sites = site::ListSites(**main);
    if (!sites.ok()) return Fail(1, verb, sites.status().message());
    failover::PrimaryClaims claims = failover::OtherPrimaries(*sites, config.site_name);
    if (!claims.others.empty()) {
      return Fail(1, verb,
                  absl::StrCat("not lifted: ", absl::StrJoin(claims.others, ", "),
                               " is the primary now; this site was promoted away: make it a "
                               "secondary with `georep demote`"));
    }
    if (!claims.unreachable.empty() && !o.force) {
      return Fail(
          1, verb,
          absl::StrCat("not lifted: no answer from ", absl::StrJoin(claims.unreachable, ", "),
                       ", so a promotion of one of them cannot be ruled out; "
                       "add --force if you know none was promoted"));
    }
    auto lifted = site::LiftFence(**main);
    if (!lifted.ok()) return Fail(1, verb, lifted.status().message());
  }
  if (auto s = site::SetMaintenance(**main, false, ""); !s.ok()) return Fail(1, verb, s.message());
  std::printf(role->fence ? "maintenance mode off and the database fence lifted: writes are "
                            "accepted again\n"
                          : "maintenance mode off: writes are accepted again\n");
  return 0;
}

}  // namespace

void AddPromotionVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* promote = app.add_subcommand(
      "promote",
      "Secondary: become the primary. Planned (the default): puts the primary into maintenance "
      "mode (writes refused), waits until this site has replayed its WAL, applied every event "
      "and holds every item synced and verified, then promotes the standby, switches roles in "
      "geo_nodes and the running daemon takes up the primary's duties; prints the RTO. Refused, "
      "with the primary out of maintenance again, if not caught up within --timeout. --force: "
      "the primary is gone; prints the data-loss report, asks for confirmation (unless --yes) "
      "and promotes as things stand.");
  AddConfig(promote, ctx);
  auto opt = std::make_shared<PromoteFlags>();
  promote->add_flag("--force", opt->force, "Unplanned: do not wait for the primary");
  promote->add_flag("--yes", opt->yes, "With --force: do not ask for confirmation");
  promote->add_flag("--json", opt->json, "Print the outcome as JSON (progress goes to stderr)");
  promote
      ->add_option("--timeout", opt->timeout_seconds,
                   "Planned: seconds to wait for this site to catch up (default 300)")
      ->check(CLI::PositiveNumber);
  promote->callback([&ctx, opt] {
    if (opt->yes && !opt->force) {
      ctx.exit_code = Fail(2, "promote", "--yes goes with --force");
      return;
    }
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunPromote(*config, *opt);
  });

  CLI::App* maintenance = app.add_subcommand(
      "maintenance",
      "Primary: maintenance mode, in which its daemon refuses the application's writes (503) and "
      "Git pushes; with --database the database is fenced too, so an application writing to "
      "PostgreSQL itself is stopped (`georep promote` does both by itself)");
  maintenance->require_subcommand(1);
  auto mo = std::make_shared<MaintenanceOptions>();
  for (const char* action : {"on", "off", "status"}) {
    CLI::App* sub = maintenance->add_subcommand(
        action,
        std::string(action) == "on"
            ? "Refuse writes until `maintenance off`; --database: also fence the database (the "
              "application's roles may not connect, their sessions are ended, new transactions "
              "are read-only)"
        : std::string(action) == "off"
            ? "Accept writes again; a fenced database stays fenced unless --database, which is "
              "refused while another site says it is the primary (this site was promoted away: "
              "`georep demote` it instead)"
            : "Say whether maintenance mode is on and the database fenced");
    AddConfig(sub, ctx);
    if (std::string(action) == "on")
      sub->add_option("--reason", mo->reason, "Shown to refused writers");
    if (std::string(action) != "status") {
      sub->add_flag(
          "--database", mo->database,
          std::string(action) == "on" ? "Fence the database too" : "Lift the database fence too");
    }
    if (std::string(action) == "off") {
      sub->add_flag("--force", mo->force,
                    "With --database: lift even when some sites do not answer (none may have been "
                    "promoted)");
    }
    sub->callback([&ctx, action, mo] {
      auto config = LoadConfigOrFail(ctx);
      if (config) ctx.exit_code = RunMaintenance(*config, action, *mo);
    });
  }
}

}  // namespace georep::cli
