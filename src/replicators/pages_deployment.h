// Archives of static sites served by Pages.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct PagesDeployment : ProjectBlob {
  static constexpr std::string_view kName = "pages_deployment";
  static constexpr std::string_view kTitle = "Pages deployment";
  static constexpr std::string_view kModelTable = "sample.pages_deployments";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
