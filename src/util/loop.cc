#include "util/loop.h"

#include "absl/base/thread_annotations.h"
#include "util/logging.h"
#include "util/mutex.h"

namespace georep {
namespace {

struct ErrorCounts {
  Mutex mu;
  std::map<std::string, int64_t> by_loop ABSL_GUARDED_BY(mu);
};

ErrorCounts& Errors() {
  static ErrorCounts* counts = new ErrorCounts;  // never destroyed: loops may outlive main
  return *counts;
}

}  // namespace

void CountLoopError(std::string_view loop) {
  ErrorCounts& e = Errors();
  MutexLock lock(&e.mu);
  ++e.by_loop[std::string(loop)];
}

std::map<std::string, int64_t> LoopErrorCounts() {
  ErrorCounts& e = Errors();
  MutexLock lock(&e.mu);
  return e.by_loop;
}

void RunLoop(const LoopOptions& options, const StopSignal& stop,
             const std::function<absl::StatusOr<double>()>& round) {
  std::string last_error;
  auto wait_for = [&](double seconds) {
    if (options.doorbell != nullptr) {
      options.doorbell->WaitFor(seconds);
    } else {
      stop.WaitFor(seconds);
    }
  };
  while (!stop.stopped()) {
    absl::StatusOr<double> wait = round();
    if (!wait.ok()) {
      CountLoopError(options.name);
      std::string msg(wait.status().message());
      if (msg != last_error) log::Warn(options.name + " round failed", {{"error", msg}});
      last_error = msg;
      if (options.on_error) options.on_error();
      wait_for(options.error_wait_seconds);
      continue;
    }
    if (!last_error.empty()) log::Info(options.name + " recovered");
    last_error.clear();
    if (*wait > 0) wait_for(*wait);
  }
}

}  // namespace georep
