// A strategy (how one kind of replicable travels and is checked) as a table
// of functions and flags. Callers ask the descriptor of a spec's strategy
// instead of switching on it; each strategy lives in its own folder
// (framework/sync/blob/, framework/sync/repository/) with its descriptor, and the list
// in strategy.cc names them. A third strategy is a new folder, one line in
// that list, and its value and name in include/georep/replicable.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "georep/replicable.h"

namespace georep::framework {

class BlobStore;  // storage/blob_store.h

struct SyncContext;
class Syncer;

// Which of a site's capacities bounds a strategy's concurrent syncs
// (geo_nodes.files_max_capacity or repos_max_capacity).
enum class CapacityPool { kFiles = 0, kRepos = 1 };
inline constexpr int kCapacityPools = 2;

struct StrategyDescriptor {
  Strategy strategy;
  CapacityPool capacity_pool = CapacityPool::kFiles;
  const char* path_suffix = "";  // every path template must end in it (".git")
  // Copies live under the repository root (else the storage root).
  bool under_repository_root = false;
  // Items change in place: a changed checksum on the primary is a new state
  // (recorded and published as an update), not tampering, and every copy's
  // checksum is compared with the primary's every repository interval.
  bool mutable_in_place = false;
  // A worker takes its share of a busy queue (else one item at a time) and
  // hands it to Syncer::SyncBatch: blobs fetch it in one request,
  // repositories record every unchanged copy of it in one transaction.
  bool takes_many = false;
  // Served to secondaries by GET /geo/retrieve (and /geo/retrieve-batch).
  bool served_by_retrieve = false;
  // A sync moves the copy when the model row's path changes (else the
  // cursor removes the copy at the old path and the new one is fetched).
  bool sync_moves_copy = false;
  // The checksum of this site's copy at `location` (a blob's is read from
  // the site's blob store).
  absl::StatusOr<std::string> (*local_checksum)(const BlobStore& blobs,
                                                const std::string& location) = nullptr;
  // The algorithm local_checksum applies to a copy's bytes ("sha256"), so an
  // application's own digest can stand for it (ReplicableSpec's
  // checksum_column); nullptr when the checksum is not a hash of the bytes.
  const char* content_checksum = nullptr;
  // A copy is a folder tree (removed whole), else one file.
  bool copy_is_tree = false;
  // Where a sync's temp files live under the strategy's root (swept of a
  // dead worker's leftovers).
  std::string (*temp_dir)(const std::string& root) = nullptr;
  // One worker thread's syncer.
  std::unique_ptr<Syncer> (*make_syncer)(const SyncContext& ctx) = nullptr;
};

// The descriptor of `strategy`; every Strategy has one.
const StrategyDescriptor& DescriptorOf(Strategy strategy);
inline const StrategyDescriptor& DescriptorOf(const ReplicableSpec& spec) {
  return DescriptorOf(spec.strategy);
}

// The checksums of this site's copies at `locations` (an empty one:
// NotFound, "no local copy"), read by up to `threads` threads at once: a
// site's verification_max_capacity. In the order of `locations`.
std::vector<absl::StatusOr<std::string>> LocalChecksums(const StrategyDescriptor& strategy,
                                                        const BlobStore& blobs,
                                                        const std::vector<std::string>& locations,
                                                        int threads);

}  // namespace georep::framework
