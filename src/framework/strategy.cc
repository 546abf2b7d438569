#include "framework/strategy.h"

#include <cstdlib>
#include <vector>

#include "framework/blob/descriptor.h"
#include "framework/repository/descriptor.h"
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

}  // namespace georep::framework
