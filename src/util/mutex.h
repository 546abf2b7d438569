// The locks Georep's threads share: absl::Mutex (with its thread-safety
// annotations, checked by clang's -Wthread-safety: scripts/check-thread-safety),
// under names of our own so that a ThreadSanitizer build can swap them.
//
// Debian's abseil is not built with ThreadSanitizer, so TSan cannot see
// absl::Mutex lock and unlock and would report every guarded access as a
// race. With GEOREP_TSAN_LOCKS (set by the `make tsan` build) these names are
// the same interface over std::mutex, which TSan understands: Unlock wakes
// every waiter, which re-evaluates its condition, as absl::Mutex does.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#ifdef GEOREP_TSAN_LOCKS
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"
#endif

namespace georep {

#ifndef GEOREP_TSAN_LOCKS

using Mutex = absl::Mutex;
using MutexLock = absl::MutexLock;
using CondVar = absl::CondVar;

#else

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    changed_.notify_all();
    mu_.unlock();
  }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}
  void AssertReaderHeld() const ABSL_ASSERT_SHARED_LOCK() {}
  // Held on entry and on return.
  void Await(const absl::Condition& cond) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    while (!cond.Eval()) changed_.wait(lock);
    lock.release();
  }
  bool AwaitWithTimeout(const absl::Condition& cond, absl::Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool met = true;
    while (!(met = cond.Eval())) {
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
        met = cond.Eval();
        break;
      }
    }
    lock.release();
    return met;
  }

 private:
  friend class CondVar;
  std::mutex mu_;
  std::condition_variable changed_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

class CondVar {
 public:
  void Wait(Mutex* mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

#endif

}  // namespace georep
