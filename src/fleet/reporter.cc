#include "fleet/reporter.h"

#include "absl/strings/str_cat.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/loop.h"
#include "util/sha256.h"

namespace georep::fleet {

StatusReporter::StatusReporter(const config::Config* config, const site::LiveRole* role,
                               std::function<std::string()> status_json,
                               std::atomic<double>* accepted_at)
    : config_(config),
      role_(role),
      status_json_(std::move(status_json)),
      accepted_at_(accepted_at) {
  thread_ = std::thread([this] {
    RunLoop({.name = "status reporter", .error_wait_seconds = config_->report_interval_seconds},
            stop_, [this] { return Round(); });
  });
}

StatusReporter::~StatusReporter() {
  stop_.Stop();
  thread_.join();
}

absl::StatusOr<double> StatusReporter::Round() {
  const site::RoleState role = role_->Get();
  if (role.self.primary || !role.primary) return config_->report_interval_seconds;
  std::string body = status_json_();
  std::string auth = transport::MakeGeoAuthorization(
      config_->access_key, config_->secret_access_key,
      transport::StatusReportRequestData(Sha256Hex(body)), static_cast<int64_t>(WallSeconds()));
  std::string url = role.primary->InternalUrl();
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto res = transport::HttpRequest(
      url + "/geo/status", {.method = "POST",
                            .body = std::move(body),
                            .headers = {"Authorization: " + auth, "Content-Type: application/json"},
                            .timeout_seconds = 10});
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return transport::StatusFromHttp(
        res->status, absl::StrCat("the primary refused the status report: HTTP ", res->status, " ",
                                  res->body.substr(0, 200)));
  }
  accepted_at_->store(MonotonicSeconds());
  return config_->report_interval_seconds;
}

}  // namespace georep::fleet
