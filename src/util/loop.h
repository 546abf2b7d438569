// The skeleton every background loop shares: run a round, log an error
// once per distinct message (and again when it clears), let the loop reset
// its connections, and wait — interruptibly — before the next round.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "util/stop_signal.h"

namespace georep {

struct LoopOptions {
  std::string name;                 // "log cursor": in log lines
  double error_wait_seconds = 1.0;  // after a failed round
  std::function<void()> on_error;   // e.g. drop the connections
  Doorbell* doorbell = nullptr;     // when set, waits end early on its Ring()
};

// Runs `round` until `stop`. A round returns how long to wait before the
// next one (0: go again at once), or an error.
void RunLoop(const LoopOptions& options, const StopSignal& stop,
             const std::function<absl::StatusOr<double>()>& round);

// Failed rounds of every background loop of this process since it started,
// by loop name (the georep_loop_errors_total metric). RunLoop counts its
// own; a loop with its own skeleton calls CountLoopError.
void CountLoopError(std::string_view loop);
std::map<std::string, int64_t> LoopErrorCounts();

}  // namespace georep
