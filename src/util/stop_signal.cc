#include "util/stop_signal.h"

#include <algorithm>

#include "absl/time/time.h"

namespace georep {

void StopSignal::Stop() {
  MutexLock lock(&mu_);
  stopped_ = true;
  // Lock order: a StopSignal's, then a Doorbell's (never the reverse).
  for (Doorbell* bell : bells_) {
    MutexLock bell_lock(&bell->mu_);
    bell->stopped_ = true;
  }
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

Doorbell::Doorbell(StopSignal* stop) : stop_(stop) {
  MutexLock lock(&stop_->mu_);
  stop_->bells_.push_back(this);
  if (stop_->stopped_) {
    MutexLock bell_lock(&mu_);
    stopped_ = true;
  }
}

Doorbell::~Doorbell() {
  MutexLock lock(&stop_->mu_);
  auto& bells = stop_->bells_;
  bells.erase(std::remove(bells.begin(), bells.end(), this), bells.end());
}

void Doorbell::Ring() {
  MutexLock lock(&mu_);
  rung_ = true;
}

bool Doorbell::WaitFor(double seconds) {
  MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return rung_ || stopped_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(seconds > 0 ? seconds : 0));
  if (rung_) woken_ = true;
  rung_ = false;
  return stopped_;
}

bool Doorbell::TakeWoken() {
  MutexLock lock(&mu_);
  bool woken = woken_ || rung_;
  woken_ = false;
  return woken;
}

}  // namespace georep
