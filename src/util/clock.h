// The clocks Georep reads, in one place: wall time (seconds since the
// epoch: tokens, reports, uptime) and a monotonic clock (intervals between
// rounds, which must not jump with the wall clock).
#pragma once

namespace georep {

double WallSeconds();
double MonotonicSeconds();

}  // namespace georep
