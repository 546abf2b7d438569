// A stop request that background loops wait on. Stop() wakes every waiter
// at once, so a daemon shuts down, or an engine is replaced on a role
// change, without waiting out anyone's sleep.
//
// Thread-safe.
#pragma once

#include "absl/base/thread_annotations.h"
#include "util/mutex.h"

namespace georep {

class StopSignal {
 public:
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopped() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits up to `seconds`, or until Stop(). Returns true once stopped.
  bool WaitFor(double seconds) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace georep
