// A stop request that background loops wait on. Stop() wakes every waiter
// at once, so a daemon shuts down, or an engine is replaced on a role
// change, without waiting out anyone's sleep.
//
// Thread-safe.
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "util/mutex.h"

namespace georep {

class Doorbell;

class StopSignal {
 public:
  // Ends every wait, the attached doorbells' too.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopped() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits up to `seconds`, or until Stop(). Returns true once stopped.
  bool WaitFor(double seconds) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class Doorbell;
  mutable Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Doorbell*> bells_ ABSL_GUARDED_BY(mu_);
};

// Cuts one loop's wait short when another thread has work for it (a sync
// that left a copy to verify wakes the verifier), and ends it at once when
// the StopSignal it is attached to stops. The StopSignal must outlive it.
class Doorbell {
 public:
  explicit Doorbell(StopSignal* stop) ABSL_LOCKS_EXCLUDED(mu_);
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  void Ring() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits up to `seconds`, or until a Ring() not yet waited for, or Stop().
  // Returns true once stopped.
  bool WaitFor(double seconds) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a Ring() ended or preceded a wait since the last call.
  bool TakeWoken() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class StopSignal;
  StopSignal* stop_;
  Mutex mu_;
  bool rung_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace georep
