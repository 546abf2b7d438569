// The clocks Georep reads, in one place: wall time (seconds since the
// epoch: tokens, reports, uptime) and a monotonic clock (intervals between
// rounds, which must not jump with the wall clock).
//
// Code that decides by elapsed time takes a `const Clock*` (default
// SystemClock()), so a test can hand it a fake one and move time on at will
// (tests/support/fake_clock.h) instead of sleeping.
#pragma once

namespace georep {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Wall() const = 0;
  virtual double Monotonic() const = 0;
};

// The real clocks; lives for the whole process.
const Clock* SystemClock();

double WallSeconds();       // SystemClock()->Wall()
double MonotonicSeconds();  // SystemClock()->Monotonic()

}  // namespace georep
