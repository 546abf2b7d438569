// A project's wiki, a Git repository beside the project's own.
// Verified by a digest of its refs (git/repository.h, RefsChecksum).
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct ProjectWikiRepository : ProjectRepositoryType {
  static constexpr std::string_view kName = "project_wiki_repository";
  static constexpr std::string_view kTitle = "Project wiki repository";
  static constexpr std::string_view kModelTable = "sample.projects";
  static constexpr std::string_view kPathTemplate = "{path}.wiki.git";
};

}  // namespace georep::replicators
