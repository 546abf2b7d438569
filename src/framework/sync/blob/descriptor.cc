#include "framework/sync/blob/descriptor.h"

#include <unistd.h>

#include "framework/storage/blob_store.h"
#include "framework/sync/blob/blob_sync.h"

namespace georep::framework {

const StrategyDescriptor& BlobStrategy() {
  static const StrategyDescriptor d{
      .strategy = Strategy::kBlob,
      .path_suffix = "",
      .under_repository_root = false,
      .mutable_in_place = false,
      .takes_many = true,
      .served_by_retrieve = true,
      .sync_moves_copy = false,
      .local_checksum = [](const BlobStore& blobs,
                           const std::string& location) { return blobs.Checksum(location); },
      .content_checksum = "sha256",
      .temp_dir = TempDir,
      .make_syncer = [](const SyncContext& ctx) -> std::unique_ptr<Syncer> {
        return std::make_unique<BlobSyncer>(ctx);
      },
  };
  return d;
}

}  // namespace georep::framework
