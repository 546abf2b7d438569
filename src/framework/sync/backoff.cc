#include "framework/sync/backoff.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace georep::framework {

double RetryDelaySeconds(int retry_count, bool missing_on_primary,
                         const std::function<int()>& rand30) {
  double n = std::max(retry_count, 0) + 1;  // this is failure number n
  double base = std::pow(n, 4) + 15 + rand30() * (n + 1);
  double cap = missing_on_primary ? kMissingRetryCapSeconds : kRetryCapSeconds;
  return std::min(base, cap) + rand30();
}

int Jitter30() {
  thread_local std::mt19937 rng(std::random_device{}());
  return static_cast<int>(rng() % 30);
}

}  // namespace georep::framework
