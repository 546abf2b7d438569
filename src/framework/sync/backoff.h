// Retry delays after a failed sync: capped exponential backoff with jitter.
//
// delay(n) = n⁴ + 15 + rand(0..29)·(n+1) seconds (GitLab's, from Sidekiq),
// capped at one hour, or four hours when the primary says the file is
// missing (it will rarely come back by itself), plus up to 30 s of jitter so
// a burst of failures does not retry in lockstep.
#pragma once

#include <cstdint>
#include <functional>

namespace georep::framework {

inline constexpr double kRetryCapSeconds = 3600;
inline constexpr double kMissingRetryCapSeconds = 4 * 3600;
// After a failure that reached no server: not counted, and due again this
// soon (claims wait anyway while the primary's health probe fails).
inline constexpr double kNotReachedRetrySeconds = 1;

// `retry_count` is the number of failures before this one; `rand30` returns
// a uniform integer in [0, 30).
double RetryDelaySeconds(int retry_count, bool missing_on_primary,
                         const std::function<int()>& rand30);

// A uniform integer in [0, 30) from a per-thread generator: the rand30 of
// RetryDelaySeconds outside tests.
int Jitter30();

}  // namespace georep::framework
