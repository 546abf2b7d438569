// A project's design files (issue designs), kept in a Git repository.
// Verified by a digest of its refs (git/repository.h, RefsChecksum).
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct DesignManagementRepository : ProjectRepositoryType {
  static constexpr std::string_view kName = "design_management_repository";
  static constexpr std::string_view kTitle = "Design repository";
  static constexpr std::string_view kModelTable = "sample.projects";
  static constexpr std::string_view kPathTemplate = "{path}.design.git";
};

}  // namespace georep::replicators
