#include "util/loop.h"

#include "util/logging.h"

namespace georep {

void RunLoop(const LoopOptions& options, const StopSignal& stop,
             const std::function<absl::StatusOr<double>()>& round) {
  std::string last_error;
  while (!stop.stopped()) {
    absl::StatusOr<double> wait = round();
    if (!wait.ok()) {
      std::string msg(wait.status().message());
      if (msg != last_error) log::Warn(options.name + " round failed", {{"error", msg}});
      last_error = msg;
      if (options.on_error) options.on_error();
      stop.WaitFor(options.error_wait_seconds);
      continue;
    }
    if (!last_error.empty()) log::Info(options.name + " recovered");
    last_error.clear();
    if (*wait > 0) stop.WaitFor(*wait);
  }
}

}  // namespace georep
