// The blob strategy: a file under the storage root, downloaded from the
// primary's retrieve endpoint (one or many per request), verified by the
// SHA-256 of its bytes. Immutable: a changed checksum is damage.
#pragma once

#include "framework/sync/strategy.h"

namespace georep::framework {

const StrategyDescriptor& BlobStrategy();

}  // namespace georep::framework
