// promote: a secondary becomes the primary, planned (the primary in
// maintenance mode, nothing lost) or forced (the primary gone);
// maintenance on|off|status: the primary's maintenance mode by hand.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/loss_report.h"
#include "cli/verbs.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "site/pause.h"
#include "site/role.h"
#include "site/sites.h"
#include "site/upstream.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"

namespace georep::cli {
namespace {

std::string Trimmed(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The primary's answer to POST /geo/maintenance.
struct MaintenanceAnswer {
  int64_t writes_in_flight = 0;
  std::string current_lsn;
};

// POSTs `body` to another site's daemon, signed with this secondary's Geo
// key over `data`; its JSON answer, or the error it gave.
absl::StatusOr<nlohmann::json> PostSigned(const site::Config& config, const site::Site& to,
                                          const std::string& path, const std::string& data,
                                          const nlohmann::json& body) {
  std::string auth = transport::MakeGeoAuthorization(config.access_key, config.secret_access_key,
                                                     data, static_cast<int64_t>(WallSeconds()));
  auto res = transport::HttpRequest(
      Trimmed(to.InternalUrl()) + path,
      {.method = "POST",
       .body = body.dump(),
       .headers = {"Authorization: " + auth, "Content-Type: application/json"},
       .timeout_seconds = 15});
  if (!res.ok()) return res.status();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    std::string why = j.is_object() && j.value("error", nlohmann::json()).is_string()
                          ? j["error"].get<std::string>()
                          : res->body.substr(0, 200);
    return transport::StatusFromHttp(res->status, absl::StrCat("HTTP ", res->status, ": ", why));
  }
  if (!j.is_object()) return absl::UnavailableError("the answer is not a JSON object");
  return j;
}

// Asks the primary's daemon to turn maintenance mode on or off.
absl::StatusOr<MaintenanceAnswer> AskMaintenance(const site::Config& config,
                                                 const site::Site& primary, bool enabled,
                                                 const std::string& reason) {
  auto answer = PostSigned(config, primary, "/geo/maintenance",
                           transport::MaintenanceRequestData(enabled, reason),
                           {{"enabled", enabled}, {"reason", reason}});
  if (!answer.ok()) return answer.status();
  const nlohmann::json& j = *answer;
  if (!j.value("writes_in_flight", nlohmann::json()).is_number_integer() ||
      !j.value("current_lsn", nlohmann::json()).is_string()) {
    return absl::UnavailableError("the primary's answer has no writes_in_flight and current_lsn");
  }
  return MaintenanceAnswer{j["writes_in_flight"].get<int64_t>(), j["current_lsn"]};
}

// Waits until this site's daemon says it is the primary and takes writes;
// false if it does not within `seconds` (e.g. it is not running).
bool WaitForDaemonAsPrimary(const site::Site& self, double seconds) {
  double deadline = MonotonicSeconds() + seconds;
  while (MonotonicSeconds() < deadline) {
    auto res = transport::HttpRequest(Trimmed(self.InternalUrl()) + "/api/v1/status",
                                      {.timeout_seconds = 2});
    if (res.ok() && res->status == 200) {
      auto j = nlohmann::json::parse(res->body, nullptr, false);
      if (j.is_object() && j.value("role", "") == "primary" && !j.value("maintenance", true))
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Another secondary, asked to stop receiving the old primary's WAL before
// this site is promoted (POST /geo/handover), so it can follow by streaming.
struct Follower {
  site::Site site;
  bool detached = false;
  uint64_t received = 0;  // how far its standby got
  std::string error;      // why it was not detached
};

struct PromoteOptions {
  bool force = false;
  bool yes = false;
  bool json = false;
  double timeout_seconds = 300;
};

class Promotion {
 public:
  Promotion(const site::Config& config, const PromoteOptions& options)
      : config_(config), opt_(options) {}
  int Run();

 private:
  int Planned();
  int Forced();
  // pg_promote, the geo_nodes switch, and the wait for the daemon; prints
  // the outcome. `started`: when writes stopped (RTO's start).
  // `database_promoted`: only the geo_nodes switch and the wait are left.
  int Finish(double started, const LossReport& report, bool database_promoted = false);
  void Progress(const std::string& line) {
    if (!opt_.json) std::fprintf(stderr, "%s\n", line.c_str());
  }
  // Detaches every other enabled secondary's standby from the old primary;
  // the highest position they received, 0 if none was detached.
  uint64_t DetachFollowers();
  // Undoes DetachFollowers (the promotion is abandoned).
  void ReattachFollowers();
  // Waits until this site's standby has replayed `lsn` or `deadline` passes.
  absl::Status WaitForReplay(uint64_t lsn, double deadline);

  const char* verb_ = "promote";
  site::Config config_;  // its Geo key may come from geo_nodes
  PromoteOptions opt_;
  SecondaryDatabases dbs_;
  std::vector<ReplicableSpec> specs_;
  site::Site self_;
  std::optional<site::Site> primary_;
  std::vector<Follower> followers_;
};

uint64_t Promotion::DetachFollowers() {
  auto sites = site::ListSites(*dbs_.standby);
  if (!sites.ok()) {
    Progress(absl::StrCat("cannot list the other secondaries (", sites.status().message(),
                          "): none is detached from the old primary"));
    return 0;
  }
  uint64_t highest = 0;
  for (const auto& other : *sites) {
    if (other.primary || !other.enabled || other.name == self_.name) continue;
    Follower f{other};
    auto answer = PostSigned(config_, other, "/geo/handover",
                             transport::HandoverRequestData("detach", self_.name),
                             {{"action", "detach"}, {"new_primary", self_.name}});
    absl::StatusOr<uint64_t> lsn =
        answer.ok() && (*answer).value("received_lsn", nlohmann::json()).is_string()
            ? site::ParseLsn((*answer)["received_lsn"])
            : absl::StatusOr<uint64_t>(answer.status());
    if (answer.ok() && !lsn.ok()) lsn = absl::UnavailableError("its answer has no received_lsn");
    if (lsn.ok()) {
      f.detached = true;
      f.received = *lsn;
      highest = std::max(highest, *lsn);
      Progress(absl::StrCat("site \"", other.name, "\" stopped receiving from the old primary at ",
                            site::FormatLsn(*lsn)));
    } else {
      f.error = std::string(lsn.status().message());
      Progress(absl::StrCat("site \"", other.name, "\" could not be detached (", f.error,
                            "): if it replays the old primary's WAL past the promotion, "
                            "`georep follow` will say it needs a new copy"));
    }
    followers_.push_back(std::move(f));
  }
  return highest;
}

void Promotion::ReattachFollowers() {
  for (auto& f : followers_) {
    if (!f.detached) continue;
    auto answer = PostSigned(config_, f.site, "/geo/handover",
                             transport::HandoverRequestData("reattach", self_.name),
                             {{"action", "reattach"}, {"new_primary", self_.name}});
    Progress(answer.ok()
                 ? absl::StrCat("site \"", f.site.name, "\" streams from the old primary again")
                 : absl::StrCat("site \"", f.site.name, "\" could not be reattached (",
                                answer.status().message(),
                                "): it stays detached until `georep follow --primary ",
                                primary_ ? primary_->url : "URL", "`"));
    f.detached = !answer.ok();
  }
}

absl::Status Promotion::WaitForReplay(uint64_t lsn, double deadline) {
  while (true) {
    auto pos = site::ReadLocalPosition(*dbs_.standby);
    if (!pos.ok()) return pos.status();
    if (pos->replayed >= lsn) return absl::OkStatus();
    if (MonotonicSeconds() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("this site's standby replayed up to ", site::FormatLsn(pos->replayed),
                       ", short of ", site::FormatLsn(lsn), " which another secondary received"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int Promotion::Run() {
  if (int code = OpenSecondary(config_, verb_, &dbs_); code != 0) return code;
  if (auto s = site::FillKeysFromRow(*dbs_.standby, config_.site_name, &config_.access_key,
                                     &config_.secret_access_key);
      !s.ok()) {
    return Fail(CodeFor(s), verb_, s.message());
  }
  auto specs = framework::ResolveSpecs(config_.replicables);
  if (!specs.ok()) return Fail(2, verb_, specs.status().message());
  specs_ = *specs;
  auto role = site::ReadRole(*dbs_.standby, config_.site_name);
  if (!role.ok()) return Fail(CodeFor(role.status()), verb_, role.status().message());
  self_ = role->self;
  primary_ = role->primary;
  if (!role->standby && !role->self.primary) {
    // The database was promoted but geo_nodes was not switched: a
    // promotion cut short (killed, or the switch failed). Finish it.
    Progress(absl::StrCat("the main database (", dbs_.standby->display_name(),
                          ") is already promoted but geo_nodes still names \"",
                          primary_ ? primary_->name : "no site",
                          "\" the primary: finishing the promotion cut short"));
    LossReport unknown;
    unknown.site = self_.name;
    return Finish(MonotonicSeconds(), unknown, /*database_promoted=*/true);
  }
  if (!role->standby || role->self.primary) {
    return Fail(2, verb_,
                absl::StrCat("site \"", config_.site_name,
                             "\" is already the primary (its main "
                             "database ",
                             dbs_.standby->display_name(), " is not a standby)"));
  }
  return opt_.force ? Forced() : Planned();
}

int Promotion::Planned() {
  if (!primary_) {
    return Fail(1, verb_, "no primary in geo_nodes to hand over from; use --force");
  }
  auto pause = site::ReadPause(*dbs_.tracking);
  if (!pause.ok()) return Fail(1, verb_, pause.status().message());
  if (pause->paused) {
    return Fail(1, verb_,
                "replication of this site is paused, so it cannot catch up: run `georep "
                "replication resume` first (or promote with --force)");
  }
  const std::string reason = absl::StrCat("planned promotion of site ", self_.name);
  double started = MonotonicSeconds();
  auto on = AskMaintenance(config_, *primary_, true, reason);
  if (!on.ok()) {
    return Fail(
        1, verb_,
        absl::StrCat("cannot put the primary \"", primary_->name, "\" into maintenance mode (",
                     on.status().message(), "); if it is gone, promote with --force"));
  }
  Progress(absl::StrCat("primary \"", primary_->name,
                        "\" is in maintenance mode: writes are refused while this site catches "
                        "up"));
  double deadline = started + opt_.timeout_seconds;
  std::string last_line;
  double last_print = 0;
  while (true) {
    auto answer = AskMaintenance(config_, *primary_, true, reason);
    absl::StatusOr<LossReport> report = absl::UnavailableError("not computed");
    std::string line;
    if (!answer.ok()) {
      line = absl::StrCat("the primary did not answer: ", answer.status().message());
    } else if (answer->writes_in_flight > 0) {
      line = absl::StrCat("waiting for ", answer->writes_in_flight,
                          " writes in flight on the primary");
    } else {
      report = ComputeLoss(self_.name, *dbs_.standby, *dbs_.tracking, specs_, primary_,
                           answer->current_lsn);
      if (!report.ok()) return Fail(1, verb_, report.status().message());
      if (!report->would_lose_data) {
        // The other secondaries stop receiving the old primary's WAL, and
        // this site is promoted no earlier than the furthest of them got:
        // they can then follow it by streaming.
        uint64_t furthest = DetachFollowers();
        if (auto s = WaitForReplay(furthest, deadline); !s.ok()) {
          ReattachFollowers();
          auto off = AskMaintenance(config_, *primary_, false, "");
          return Fail(1, verb_,
                      absl::StrCat(s.message(), "; not promoted; the primary ",
                                   off.ok() ? "is out of maintenance mode again"
                                            : "is still in maintenance mode"));
        }
        return Finish(started, *report);
      }
      line = absl::StrCat("catching up: ", report->Summary());
    }
    if (line != last_line || MonotonicSeconds() - last_print > 5) {
      Progress(line);
      last_line = line;
      last_print = MonotonicSeconds();
    }
    if (MonotonicSeconds() > deadline) {
      auto off = AskMaintenance(config_, *primary_, false, "");
      if (report.ok()) {
        if (opt_.json) {
          std::puts(
              nlohmann::json{{"promoted", false}, {"report", report->Json()}}.dump(2).c_str());
        } else {
          report->Print(stderr);
        }
      }
      return Fail(1, verb_,
                  absl::StrCat("not caught up within ", opt_.timeout_seconds, " s (", line,
                               "); not promoted; the primary ",
                               off.ok() ? "is out of maintenance mode again"
                                        : absl::StrCat("is still in maintenance mode (",
                                                       off.status().message(),
                                                       "): end it with `georep maintenance off`")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int Promotion::Forced() {
  auto report =
      ComputeLoss(self_.name, *dbs_.standby, *dbs_.tracking, specs_, primary_, std::nullopt);
  if (!report.ok()) return Fail(1, verb_, report.status().message());
  if (!opt_.json) report->Print(stdout);
  if (!opt_.yes) {
    std::printf("Promote site \"%s\" now, losing what is listed above? Type \"yes\": ",
                self_.name.c_str());
    std::fflush(stdout);
    std::string answer;
    if (!std::getline(std::cin, answer) || answer != "yes") {
      return Fail(1, verb_, "not promoted (not confirmed)");
    }
  }
  double started = MonotonicSeconds();
  // If the old primary still answers, fence it: it refuses writes from now.
  if (primary_) {
    auto fenced = AskMaintenance(config_, *primary_, true,
                                 absl::StrCat("forced promotion of site ", self_.name));
    Progress(fenced.ok()
                 ? absl::StrCat("the old primary \"", primary_->name,
                                "\" answered and is now in maintenance mode")
                 : absl::StrCat("the old primary \"", primary_->name, "\" cannot be reached (",
                                fenced.status().message(), "); make sure it stays down"));
  }
  // The other secondaries stop taking the old primary's WAL (if it is
  // still alive); whether each can follow by streaming, `follow` tells.
  DetachFollowers();
  // A paused site is promoted as it stands: the pause ends.
  if (auto s = site::ResumeReplication(*dbs_.tracking, *dbs_.standby); !s.ok()) {
    return Fail(1, verb_, s.message());
  }
  return Finish(started, *report);
}

int Promotion::Finish(double started, const LossReport& report, bool database_promoted) {
  double promote_seconds = 0;
  if (!database_promoted) {
    Progress(absl::StrCat("promoting the standby (", dbs_.standby->display_name(), ")"));
    double promote_started = MonotonicSeconds();
    if (auto s = site::PromoteDatabase(*dbs_.standby, 60); !s.ok()) {
      ReattachFollowers();
      return Fail(1, verb_, s.message());
    }
    promote_seconds = MonotonicSeconds() - promote_started;
  }
  if (auto s = site::RecordPromotion(*dbs_.standby, self_.name); !s.ok()) {
    return Fail(1, verb_,
                absl::StrCat("the database is promoted, but geo_nodes could not be switched (",
                             s.message(), "); run `georep promote` again"));
  }
  bool serving = WaitForDaemonAsPrimary(self_, 60);
  double rto = MonotonicSeconds() - started;
  std::string old = primary_ ? primary_->name : "";
  if (opt_.json) {
    nlohmann::json j = {{"site", self_.name},
                        {"planned", !opt_.force},
                        {"old_primary", old},
                        {"daemon_serving_as_primary", serving},
                        {"rto_seconds", serving ? nlohmann::json(rto) : nlohmann::json()},
                        {"promote_database_seconds", promote_seconds},
                        {"would_lose_data", report.would_lose_data},
                        {"report", report.Json()}};
    nlohmann::json followers = nlohmann::json::array();
    for (const auto& f : followers_) {
      nlohmann::json fj = {{"site", f.site.name}, {"detached", f.detached}};
      if (f.detached) fj["received_lsn"] = site::FormatLsn(f.received);
      if (!f.error.empty()) fj["error"] = f.error;
      followers.push_back(fj);
    }
    j["followers"] = followers;
    std::puts(j.dump(2).c_str());
  } else {
    std::printf("site \"%s\" is the primary now%s\n", self_.name.c_str(),
                old.empty() ? "" : absl::StrCat("; \"", old, "\" is a disabled secondary").c_str());
    if (serving) {
      std::printf("RTO: %.1f s (from %s to the first write this site accepts)\n", rto,
                  opt_.force ? "the confirmed promotion" : "the primary's maintenance mode");
    } else {
      std::printf(
          "its daemon is not serving as the primary yet: start it (`georep serve --config %s`)\n",
          config_.path.c_str());
    }
    for (const auto& f : followers_) {
      std::printf("site \"%s\" %s: on it run `georep follow --config <its config> --primary %s`\n",
                  f.site.name.c_str(),
                  f.detached ? "is detached from the old primary" : "was not detached",
                  self_.url.c_str());
    }
    std::printf("RPO: %s\n",
                database_promoted ? "as it stood when the promotion was cut short"
                : !report.would_lose_data
                    ? "0, nothing lost"
                    : absl::StrCat("what the report above lists (", report.Summary(), ")").c_str());
  }
  return serving ? 0 : 1;
}

int RunMaintenance(const site::Config& config, const std::string& action,
                   const std::string& reason) {
  std::string verb = "maintenance " + action;
  auto main = OpenMain(config);
  if (!main.ok()) return Fail(1, verb, main.status().message());
  auto role = site::ReadRole(**main, config.site_name);
  if (!role.ok()) return Fail(CodeFor(role.status()), verb, role.status().message());
  if (action == "status") {
    std::printf(
        "maintenance mode: %s\n",
        role->maintenance ? absl::StrCat("on (", role->maintenance_reason, ")").c_str() : "off");
    return 0;
  }
  if (!role->self.primary || role->standby) {
    return Fail(
        2, verb,
        absl::StrCat("runs on the primary; site \"", config.site_name, "\" is a secondary"));
  }
  if (auto s = site::SetMaintenance(**main, action == "on", reason); !s.ok())
    return Fail(1, verb, s.message());
  std::printf(action == "on" ? "maintenance mode on: the daemon refuses writes within a second\n"
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
  auto opt = std::make_shared<PromoteOptions>();
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
    if (config) ctx.exit_code = Promotion(*config, *opt).Run();
  });

  CLI::App* maintenance = app.add_subcommand(
      "maintenance",
      "Primary: maintenance mode, in which its daemon refuses the application's writes (503) and "
      "Git pushes (`georep promote` turns it on by itself)");
  maintenance->require_subcommand(1);
  auto reason = std::make_shared<std::string>("operator's maintenance");
  for (const char* action : {"on", "off", "status"}) {
    CLI::App* sub = maintenance->add_subcommand(
        action, std::string(action) == "on"    ? "Refuse writes until `maintenance off`"
                : std::string(action) == "off" ? "Accept writes again"
                                               : "Say whether maintenance mode is on");
    AddConfig(sub, ctx);
    if (std::string(action) == "on")
      sub->add_option("--reason", *reason, "Shown to refused writers");
    sub->callback([&ctx, action, reason] {
      auto config = LoadConfigOrFail(ctx);
      if (config) ctx.exit_code = RunMaintenance(*config, action, *reason);
    });
  }
}

}  // namespace georep::cli
