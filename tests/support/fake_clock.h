// A clock that moves only when a test says so (util/clock.h).
#pragma once

#include <atomic>

#include "util/clock.h"

namespace georep::test {

class FakeClock : public Clock {
 public:
  double Wall() const override { return 1.8e9 + now_.load(); }
  double Monotonic() const override { return now_.load(); }
  void Advance(double seconds) { now_.store(now_.load() + seconds); }

 private:
  std::atomic<double> now_{1000.0};
};

}  // namespace georep::test
