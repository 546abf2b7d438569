#include "failover/promotion.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/connection.h"
#include "failover/peers.h"
#include "framework/registry/lost_in_failover.h"
#include "framework/spec/spec.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/pause.h"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/net.h"

namespace georep::failover {
namespace {

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
absl::StatusOr<nlohmann::json> PostSigned(const config::Config& config, const site::Site& to,
                                          const std::string& path, const std::string& data,
                                          const nlohmann::json& body) {
  std::string auth = transport::MakeGeoAuthorization(config.access_key, config.secret_access_key,
                                                     data, static_cast<int64_t>(WallSeconds()));
  auto res = transport::HttpRequest(
      TrimTrailingSlashes(to.InternalUrl()) + path,
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
absl::StatusOr<MaintenanceAnswer> AskMaintenance(const config::Config& config,
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

// The conninfo of the old primary's main database as this standby reaches
// it: host, port and TLS of its primary_conninfo; the role, credentials and
// database of this site's own main conninfo.
std::string OldPrimaryConninfo(const config::Config& config, const std::string& upstream) {
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
    auto res = transport::HttpRequest(TrimTrailingSlashes(self.InternalUrl()) + "/api/v1/status",
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

class Promotion {
 public:
  Promotion(const config::Config& config, const PromotionOptions& options)
      : config_(config), opt_(options) {
    out_.site = config.site_name;
  }
  PromotionOutcome Run();

 private:
  void Planned();
  void Forced();
  // pg_promote, the geo_nodes switch, and the wait for the daemon.
  // `started`: when writes stopped (RTO's start). `database_promoted`:
  // only the geo_nodes switch and the wait are left.
  void Finish(double started, bool database_promoted = false);
  void Progress(const std::string& line) {
    if (opt_.progress) opt_.progress(line);
  }
  // Ends the procedure: nothing more is done.
  void Fail(absl::Status error) { out_.error = std::move(error); }
  // Detaches every other enabled secondary's standby from the old primary;
  // the highest position they received, 0 if none was detached.
  uint64_t DetachFollowers();
  // Undoes DetachFollowers (the promotion is abandoned).
  void ReattachFollowers();
  // Forced: fences the old primary, through its daemon or else its
  // database directly.
  void FenceOldPrimary();
  // Waits until this site's standby has replayed `lsn` or `deadline` passes.
  absl::Status WaitForReplay(uint64_t lsn, double deadline);

  config::Config config_;  // its Geo key may come from geo_nodes
  PromotionOptions opt_;
  SecondaryDatabases dbs_;
  std::vector<ReplicableSpec> specs_;
  site::Site self_;
  std::optional<site::Site> primary_;
  // Forced: what to record lost with the promotion.
  std::vector<framework::LostItem> lost_;
  PromotionOutcome out_;
};

void Promotion::FenceOldPrimary() {
  const std::string reason = absl::StrCat("forced promotion of site ", self_.name);
  auto by_daemon = AskMaintenance(config_, *primary_, true, reason);
  if (by_daemon.ok()) {
    out_.old_fence = {
        .fenced = true, .how = "by its daemon", .superuser_roles = by_daemon->superuser_roles};
  } else {
    // Its daemon is gone; its PostgreSQL may not be: fenced directly,
    // through the address this standby streams from.
    out_.old_fence.error = absl::StrCat("its daemon: ", by_daemon.status().message());
    auto upstream = site::ReadUpstream(*dbs_.standby);
    if (upstream.ok() && !upstream->conninfo.empty()) {
      auto direct =
          site::RaiseFence(OldPrimaryConninfo(config_, upstream->conninfo), reason, self_.name);
      if (direct.ok()) {
        out_.old_fence = {.fenced = true,
                          .how = "directly, at its database",
                          .superuser_roles = direct->superuser_roles};
      } else {
        absl::StrAppend(&out_.old_fence.error, "; its database: ", direct.status().message());
      }
    } else {
      absl::StrAppend(&out_.old_fence.error, "; its database: this standby records no upstream");
    }
  }
  Progress(out_.old_fence.fenced
               ? absl::StrCat("the old primary \"", primary_->name, "\" was fenced ",
                              out_.old_fence.how, ": its database refuses the application's writes")
               : absl::StrCat("the old primary \"", primary_->name, "\" could not be fenced (",
                              out_.old_fence.error,
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
    FollowerOutcome f{other};
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
    out_.followers.push_back(std::move(f));
  }
  return highest;
}

void Promotion::ReattachFollowers() {
  for (auto& f : out_.followers) {
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

PromotionOutcome Promotion::Run() {
  auto dbs = OpenSecondaryDatabases(config_);
  if (!dbs.ok()) {
    Fail(dbs.status());
    return out_;
  }
  dbs_ = std::move(*dbs);
  if (auto s = site::FillKeysFromRow(*dbs_.standby, config_.site_name, &config_.access_key,
                                     &config_.secret_access_key);
      !s.ok()) {
    Fail(s);
    return out_;
  }
  auto specs = framework::ResolveSpecs(config_.replicables);
  if (!specs.ok()) {
    Fail(absl::InvalidArgumentError(specs.status().message()));
    return out_;
  }
  specs_ = *specs;
  auto role = site::ReadRole(*dbs_.standby, config_.site_name);
  if (!role.ok()) {
    Fail(role.status());
    return out_;
  }
  self_ = role->self;
  primary_ = role->primary;
  out_.site_url = self_.url;
  out_.old_primary = primary_ && primary_->name != self_.name ? primary_->name : "";
  if (!role->standby && !role->self.primary) {
    // The database was promoted but geo_nodes was not switched: a
    // promotion cut short (killed, or the switch failed). Finish it.
    Progress(absl::StrCat("the main database (", dbs_.standby->display_name(),
                          ") is already promoted but geo_nodes still names \"",
                          primary_ ? primary_->name : "no site",
                          "\" the primary: finishing the promotion cut short"));
    LossReport unknown;
    unknown.site = self_.name;
    out_.report = unknown;
    out_.finished_earlier_one = true;
    Finish(MonotonicSeconds(), /*database_promoted=*/true);
    return out_;
  }
  if (!role->standby || role->self.primary) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("site \"", config_.site_name, "\" is already the primary (its main database ",
                     dbs_.standby->display_name(), " is not a standby)")));
    return out_;
  }
  if (opt_.force) {
    Forced();
  } else {
    Planned();
  }
  return out_;
}

void Promotion::Planned() {
  if (!primary_) {
    return Fail(
        absl::FailedPreconditionError("no primary in geo_nodes to hand over from; use --force"));
  }
  auto pause = site::ReadPause(*dbs_.tracking);
  if (!pause.ok()) return Fail(pause.status());
  if (pause->paused) {
    return Fail(absl::FailedPreconditionError(
        "replication of this site is paused, so it cannot catch up: run `georep replication "
        "resume` first (or promote with --force)"));
  }
  const std::string reason = absl::StrCat("planned promotion of site ", self_.name);
  double started = MonotonicSeconds();
  auto on = AskMaintenance(config_, *primary_, true, reason);
  if (!on.ok()) {
    // It may have closed its gate, or answered that its database cannot be
    // fenced: either way it is opened again.
    auto off = AskMaintenance(config_, *primary_, false, "");
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot put the primary \"", primary_->name,
                     "\" into maintenance mode with its database fenced (", on.status().message(),
                     "); not promoted", off.ok() ? "" : "; if it is gone, promote with --force")));
  }
  Progress(absl::StrCat(
      "primary \"", primary_->name,
      "\" is in maintenance mode and its database fenced: the application's roles (",
      on->roles_fenced.empty() ? "none" : absl::StrJoin(on->roles_fenced, ", "),
      ") may not connect, ", on->sessions_ended,
      " of their sessions ended, new transactions read-only; writes are refused while this site "
      "catches up"));
  out_.old_fence = {.fenced = true, .how = "by its daemon", .superuser_roles = on->superuser_roles};
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
    std::string line;
    if (!answer.ok() && absl::IsInvalidArgument(answer.status())) {
      auto off = AskMaintenance(config_, *primary_, false, "");
      return Fail(absl::FailedPreconditionError(absl::StrCat(
          "the primary refused: ", answer.status().message(), "; not promoted; the primary ",
          off.ok() ? "is out of maintenance mode again, its database unfenced"
                   : "is still in maintenance mode")));
    }
    if (!answer.ok()) {
      line = absl::StrCat("the primary did not answer: ", answer.status().message());
    } else if (answer->writes_in_flight > 0) {
      line = absl::StrCat("waiting for ", answer->writes_in_flight,
                          " writes in flight on the primary");
    } else {
      auto report = ComputeLoss(self_.name, *dbs_.standby, *dbs_.tracking, specs_, primary_,
                                answer->current_lsn);
      if (!report.ok()) return Fail(report.status());
      out_.report = *report;
      if (!report->would_lose_data) {
        // The other secondaries stop receiving the old primary's WAL, and
        // this site is promoted no earlier than the furthest of them got:
        // they can then follow it by streaming.
        uint64_t furthest = DetachFollowers();
        if (auto s = WaitForReplay(furthest, deadline); !s.ok()) {
          ReattachFollowers();
          auto off = AskMaintenance(config_, *primary_, false, "");
          return Fail(absl::DeadlineExceededError(
              absl::StrCat(s.message(), "; not promoted; the primary ",
                           off.ok() ? "is out of maintenance mode again, its database fence lifted"
                                    : "is still in maintenance mode and fenced")));
        }
        return Finish(started);
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
      return Fail(absl::DeadlineExceededError(absl::StrCat(
          "not caught up within ", opt_.timeout_seconds, " s (", line,
          "); not promoted; the primary ",
          off.ok()
              ? "is out of maintenance mode again, its database fence lifted"
              : absl::StrCat("is still in maintenance mode and fenced (", off.status().message(),
                             "): end both with `georep maintenance off --database` on it"))));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void Promotion::Forced() {
  auto report =
      ComputeLoss(self_.name, *dbs_.standby, *dbs_.tracking, specs_, primary_, std::nullopt);
  if (!report.ok()) return Fail(report.status());
  out_.report = *report;
  if (opt_.confirm && !opt_.confirm(*report)) {
    return Fail(absl::CancelledError("not promoted (not confirmed)"));
  }
  // What this site does not hold the bytes of is lost to the fleet: no
  // site can fetch it from the new primary.
  for (const auto& loss : report->replicables) {
    for (const auto& m : loss.missing) {
      if (!m.held) lost_.push_back({loss.name, m.id, m.reason});
    }
  }
  double started = MonotonicSeconds();
  // If the old primary still answers, fence it: it refuses writes from now.
  if (primary_) FenceOldPrimary();
  // The other secondaries stop taking the old primary's WAL (if it is
  // still alive); whether each can follow by streaming, `follow` tells.
  DetachFollowers();
  // A paused site is promoted as it stands: the pause ends.
  if (auto s = site::ResumeReplication(*dbs_.tracking, *dbs_.standby); !s.ok()) return Fail(s);
  Finish(started);
}

void Promotion::Finish(double started, bool database_promoted) {
  if (!database_promoted) {
    Progress(absl::StrCat("promoting the standby (", dbs_.standby->display_name(), ")"));
    double promote_started = MonotonicSeconds();
    if (auto s = site::PromoteDatabase(*dbs_.standby, 60); !s.ok()) {
      ReattachFollowers();
      return Fail(s);
    }
    out_.promote_database_seconds = MonotonicSeconds() - promote_started;
  }
  auto record_lost = [&]() -> absl::Status {
    return framework::RecordLost(*dbs_.standby, lost_, primary_ ? primary_->name : "unknown",
                                 self_.name);
  };
  if (auto s = site::RecordPromotion(*dbs_.standby, self_.name,
                                     lost_.empty() ? std::function<absl::Status()>() : record_lost);
      !s.ok()) {
    return Fail(absl::Status(
        s.code(), absl::StrCat("the database is promoted, but geo_nodes could not be switched (",
                               s.message(), "); run `georep promote` again")));
  }
  out_.promoted = true;
  out_.recorded_lost = static_cast<int64_t>(lost_.size());
  out_.serving = WaitForDaemonAsPrimary(self_, 60);
  out_.rto_seconds = MonotonicSeconds() - started;
}

}  // namespace

PromotionOutcome Promote(const config::Config& config, const PromotionOptions& options) {
  return Promotion(config, options).Run();
}

}  // namespace georep::failover
