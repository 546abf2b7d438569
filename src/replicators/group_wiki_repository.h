// A group's wiki, a Git repository named after the group.
// Verified by a digest of its refs (git/repository.h, RefsChecksum).
#pragma once

#include "georep/replicable.h"

namespace georep::replicators {

struct GroupWikiRepository : RepositoryType {
  static constexpr std::string_view kName = "group_wiki_repository";
  static constexpr std::string_view kTitle = "Group wiki repository";
  static constexpr std::string_view kModelTable = "sample.namespaces";
  static constexpr std::string_view kPathTemplate = "{path}.wiki.git";
  // A group's wiki belongs to the group itself (selective sync).
  static constexpr std::string_view kNamespaceSql = "{path}";
};

}  // namespace georep::replicators
