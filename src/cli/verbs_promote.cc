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
#include "absl/strings/str_join.h"
#include "cli/loss_report.h"
#include "cli/verbs.h"
#include "db/connection.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
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
  int64_t sessions_ended = 0;                // by its database fence
  std::vector<std::string> roles_fenced;     // refused new sessions
  std::vector<std::string> superuser_roles;  // not fenceable: may still write
};

std::vector<std::string> Strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v);
  }
  return out;
}

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
       // Raising the fence may end many sessions, each given up to 5 s.
       .timeout_seconds = 90});
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
  MaintenanceAnswer a{j["writes_in_flight"].get<int64_t>(), j["current_lsn"]};
  if (const auto& fence = j.value("fence", nlohmann::json()); fence.is_object()) {
    if (fence.value("sessions_ended", nlohmann::json()).is_number_integer())
      a.sessions_ended = fence["sessions_ended"].get<int64_t>();
    a.roles_fenced = Strings(fence.value("roles_fenced", nlohmann::json()));
    a.superuser_roles = Strings(fence.value("superuser_roles", nlohmann::json()));
  }
  return a;
}

// Whether the old primary's database was fenced, and how (shown in the
// outcome of a promotion).
struct OldPrimaryFence {
  bool fenced = false;
  std::string how;    // "by its daemon" or "directly, at its database"
  std::string error;  // why not
  std::vector<std::string> superuser_roles;
};

// The conninfo of the old primary's main database as this standby reaches
// it: host, port and TLS of its primary_conninfo; the role, credentials and
// database of this site's own main conninfo.
std::string OldPrimaryConninfo(const site::Config& config, const std::string& upstream) {
  std::string out;
  // Where: the host this standby streams from. Who: Georep's own role, as
  // this site's main conninfo names it (the replication role of the
  // upstream may not alter roles, and is not Georep's).
  for (const char* key : {"host", "hostaddr", "port", "sslmode", "sslrootcert"}) {
    std::string v = db::ConninfoValue(upstream, key);
    if (!v.empty()) absl::StrAppend(&out, key, "=", db::QuoteConninfoValue(v), " ");
  }
  for (const char* key : {"user", "password", "passfile", "sslcert", "sslkey"}) {
    std::string v = db::ConninfoValue(config.main_database, key);
    if (!v.empty()) absl::StrAppend(&out, key, "=", db::QuoteConninfoValue(v), " ");
  }
  std::string dbname = db::ConninfoValue(config.main_database, "dbname");
  absl::StrAppend(&out, "dbname=", db::QuoteConninfoValue(dbname.empty() ? "postgres" : dbname));
  return out;
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
  // Forced: fences the old primary, through its daemon or else its
  // database directly; the outcome in old_fence_.
  void FenceOldPrimary();
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
  OldPrimaryFence old_fence_;
};

void Promotion::FenceOldPrimary() {
  const std::string reason = absl::StrCat("forced promotion of site ", self_.name);
  auto by_daemon = AskMaintenance(config_, *primary_, true, reason);
  if (by_daemon.ok()) {
    old_fence_ = {
        .fenced = true, .how = "by its daemon", .superuser_roles = by_daemon->superuser_roles};
  } else {
    // Its daemon is gone; its PostgreSQL may not be: fenced directly,
    // through the address this standby streams from.
    old_fence_.error = absl::StrCat("its daemon: ", by_daemon.status().message());
    auto upstream = site::ReadUpstream(*dbs_.standby);
    if (upstream.ok() && !upstream->conninfo.empty()) {
      auto direct =
          site::RaiseFence(OldPrimaryConninfo(config_, upstream->conninfo), reason, self_.name);
      if (direct.ok()) {
        old_fence_ = {.fenced = true,
                      .how = "directly, at its database",
                      .superuser_roles = direct->superuser_roles};
      } else {
        absl::StrAppend(&old_fence_.error, "; its database: ", direct.status().message());
      }
    } else {
      absl::StrAppend(&old_fence_.error, "; its database: this standby records no upstream");
    }
  }
  Progress(old_fence_.fenced
               ? absl::StrCat("the old primary \"", primary_->name, "\" was fenced ",
                              old_fence_.how, ": its database refuses the application's writes")
               : absl::StrCat("the old primary \"", primary_->name, "\" could not be fenced (",
                              old_fence_.error,
                              "): it may still accept writes; make sure it stays down"));
}

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
    // It may have closed its gate, or answered that its database cannot be
    // fenced: either way it is opened again.
    auto off = AskMaintenance(config_, *primary_, false, "");
    return Fail(
        1, verb_,
        absl::StrCat("cannot put the primary \"", primary_->name,
                     "\" into maintenance mode with its database fenced (", on.status().message(),
                     "); not promoted", off.ok() ? "" : "; if it is gone, promote with --force"));
  }
  Progress(absl::StrCat(
      "primary \"", primary_->name,
      "\" is in maintenance mode and its database fenced: the application's roles (",
      on->roles_fenced.empty() ? "none" : absl::StrJoin(on->roles_fenced, ", "),
      ") may not connect, ", on->sessions_ended,
      " of their sessions ended, new transactions read-only; writes are refused while this site "
      "catches up"));
  old_fence_ = {.fenced = true, .how = "by its daemon", .superuser_roles = on->superuser_roles};
  if (!on->superuser_roles.empty()) {
    Progress(absl::StrCat("WARNING: superuser roles (", absl::StrJoin(on->superuser_roles, ", "),
                          ") had sessions on the primary: a superuser can lift any fence; an "
                          "application connecting as one is not stopped"));
  }
  double deadline = started + opt_.timeout_seconds;
  std::string last_line;
  double last_print = 0;
  while (true) {
    auto answer = AskMaintenance(config_, *primary_, true, reason);
    absl::StatusOr<LossReport> report = absl::UnavailableError("not computed");
    std::string line;
    if (!answer.ok() && absl::IsInvalidArgument(answer.status())) {
      auto off = AskMaintenance(config_, *primary_, false, "");
      return Fail(1, verb_,
                  absl::StrCat("the primary refused: ", answer.status().message(),
                               "; not promoted; the primary ",
                               off.ok() ? "is out of maintenance mode again, its database unfenced"
                                        : "is still in maintenance mode"));
    }
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
                                   off.ok() ? "is out of maintenance mode again, its database "
                                              "fence lifted"
                                            : "is still in maintenance mode and fenced"));
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
      return Fail(
          1, verb_,
          absl::StrCat("not caught up within ", opt_.timeout_seconds, " s (", line,
                       "); not promoted; the primary ",
                       off.ok() ? "is out of maintenance mode again, its database fence lifted"
                                : absl::StrCat("is still in maintenance mode and fenced (",
                                               off.status().message(),
                                               "): end both with `georep maintenance off "
                                               "--database` on it")));
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
  if (primary_) FenceOldPrimary();
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
    j["old_primary_fence"] = {
        {"fenced", old_fence_.fenced},
        {"how", old_fence_.fenced ? nlohmann::json(old_fence_.how) : nlohmann::json()},
        {"error", old_fence_.error.empty() ? nlohmann::json() : nlohmann::json(old_fence_.error)},
        {"superuser_roles", old_fence_.superuser_roles}};
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
    if (!old.empty()) {
      std::printf("%s\n",
                  old_fence_.fenced
                      ? absl::StrCat("the old primary's database is fenced (", old_fence_.how,
                                     "): it refuses the application's writes until `georep "
                                     "demote` makes it a secondary")
                            .c_str()
                      : absl::StrCat("WARNING: the old primary's database was not fenced (",
                                     old_fence_.error, "): it may still accept writes")
                            .c_str());
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

struct MaintenanceOptions {
  std::string reason = "operator's maintenance";
  bool database = false;  // the database fence too
  bool force = false;     // off --database: even when other sites do not answer
};

int RunMaintenance(const site::Config& config, const std::string& action,
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
    PrimaryClaims claims = OtherPrimaries(*sites, config.site_name);
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
