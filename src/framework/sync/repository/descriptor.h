// The repository strategy: a bare Git repository under the repository root,
// mirror-cloned and fetched from the primary with the real git, verified by
// a digest of its refs read without a git process. Mutable: a push changes
// it in place, so a changed digest is a new state, and copies are compared
// with the primary's digests often.
#pragma once

#include "framework/sync/strategy.h"

namespace georep::framework {

const StrategyDescriptor& RepositoryStrategy();

}  // namespace georep::framework
