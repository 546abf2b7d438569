// A snippet's Git repository (its files and their history).
// Verified by a digest of its refs (git/repository.h, RefsChecksum).
#pragma once

#include "georep/replicable.h"

namespace georep::replicators {

struct SnippetRepository : RepositoryType {
  static constexpr std::string_view kName = "snippet_repository";
  static constexpr std::string_view kTitle = "Snippet repository";
  static constexpr std::string_view kModelTable = "sample.snippets";
  static constexpr std::string_view kPathTemplate = "@snippets/{id}.git";
};

}  // namespace georep::replicators
