// Files attached to issues, comments and profiles.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct Upload : ProjectBlob {
  static constexpr std::string_view kName = "upload";
  static constexpr std::string_view kTitle = "Upload";
  static constexpr std::string_view kModelTable = "sample.uploads";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
