// A secondary's status reports to the primary: every
// monitor.report_interval_seconds, its /api/v1/status document, signed with
// its Geo key (POST /geo/status), so the primary, and through its replica
// every site, sees the whole fleet (fleet/reports.h). Idle on the primary;
// follows a change of primary (the role is read at each round).
//
// Owns its thread: built, it runs; destroyed, it stops and joins.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "site/role.h"
#include "util/stop_signal.h"

namespace georep::fleet {

class StatusReporter {
 public:
  // `accepted_at`: set to MonotonicSeconds() each time the primary accepts
  // a report (0 until then); owned by the caller, readable by any thread.
  StatusReporter(const config::Config* config, const site::LiveRole* role,
                 std::function<std::string()> status_json, std::atomic<double>* accepted_at);
  ~StatusReporter();
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

 private:
  absl::StatusOr<double> Round();

  const config::Config* config_;
  const site::LiveRole* role_;
  std::function<std::string()> status_json_;
  std::atomic<double>* accepted_at_;
  StopSignal stop_;
  std::thread thread_;
};

}  // namespace georep::fleet
