#include "util/stop_signal.h"

#include "absl/time/time.h"

namespace georep {

void StopSignal::Stop() {
  MutexLock lock(&mu_);
  stopped_ = true;
}

bool StopSignal::stopped() const {
  MutexLock lock(&mu_);
  return stopped_;
}

bool StopSignal::WaitFor(double seconds) const {
  MutexLock lock(&mu_);
  auto is_stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
  mu_.AwaitWithTimeout(absl::Condition(&is_stopped), absl::Seconds(seconds > 0 ? seconds : 0));
  return stopped_;
}

}  // namespace georep
