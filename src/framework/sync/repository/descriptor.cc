#include "framework/sync/repository/descriptor.h"

#include <filesystem>

#include "framework/sync/repository/repository_sync.h"
#include "git/repository.h"

namespace georep::framework {

const StrategyDescriptor& RepositoryStrategy() {
  static const StrategyDescriptor d{
      .strategy = Strategy::kRepository,
      .capacity_pool = CapacityPool::kRepos,
      .path_suffix = ".git",
      .under_repository_root = true,
      .mutable_in_place = true,
      .takes_many = true,
      .served_by_retrieve = false,
      .sync_moves_copy = true,
      .local_checksum = [](const BlobStore&,
                           const std::string& path) { return git::RefsChecksum(path); },
      .copy_is_tree = true,
      .temp_dir = RepositoryTempDir,
      .make_syncer = [](const SyncContext& ctx) -> std::unique_ptr<Syncer> {
        return std::make_unique<RepositorySyncer>(ctx);
      },
  };
  return d;
}

}  // namespace georep::framework
