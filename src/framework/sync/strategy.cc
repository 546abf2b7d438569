#include "framework/sync/strategy.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "framework/sync/blob/descriptor.h"
#include "framework/sync/repository/descriptor.h"
#include "util/logging.h"

namespace georep::framework {
namespace {

// Every strategy compiled in: a new one adds its folder and one line here.
const std::vector<const StrategyDescriptor*>& All() {
  static const std::vector<const StrategyDescriptor*> all = {&BlobStrategy(),
                                                             &RepositoryStrategy()};
  return all;
}

}  // namespace

const StrategyDescriptor& DescriptorOf(Strategy strategy) {
  for (const StrategyDescriptor* d : All()) {
    if (d->strategy == strategy) return *d;
  }
  log::Error("no descriptor for a strategy", {{"strategy", static_cast<int64_t>(strategy)}});
  std::abort();  // a Strategy without a descriptor is a bug
}

std::vector<absl::StatusOr<std::string>> LocalChecksums(const StrategyDescriptor& strategy,
                                                        const BlobStore& blobs,
                                                        const std::vector<std::string>& paths,
                                                        int threads) {
  std::vector<absl::StatusOr<std::string>> out(paths.size(), absl::NotFoundError("no local copy"));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < paths.size();) {
      if (!paths[i].empty()) out[i] = strategy.local_checksum(blobs, paths[i]);
    }
  };
  size_t n = std::min(static_cast<size_t>(std::max(threads, 1)), paths.size());
  if (n <= 1) {
    work();
    return out;
  }
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

}  // namespace georep::framework
