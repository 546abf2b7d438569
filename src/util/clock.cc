#include "util/clock.h"

#include <chrono>

namespace georep {
namespace {

class RealClock : public Clock {
 public:
  double Wall() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  double Monotonic() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

const Clock* SystemClock() {
  static const RealClock clock;
  return &clock;
}

double WallSeconds() { return SystemClock()->Wall(); }
double MonotonicSeconds() { return SystemClock()->Monotonic(); }

}  // namespace georep
