// A project's Git repository: the code users clone and push.
// Verified by a digest of its refs (git/repository.h, RefsChecksum).
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct ProjectRepository : ProjectRepositoryType {
  static constexpr std::string_view kName = "project_repository";
  static constexpr std::string_view kTitle = "Project repository";
  static constexpr std::string_view kModelTable = "sample.projects";
  static constexpr std::string_view kPathTemplate = "{path}.git";
};

}  // namespace georep::replicators
