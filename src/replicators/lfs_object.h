// Large files stored outside Git by Git LFS; immutable, addressed by content.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct LfsObject : ProjectBlob {
  static constexpr std::string_view kName = "lfs_object";
  static constexpr std::string_view kTitle = "LFS object";
  static constexpr std::string_view kModelTable = "sample.lfs_objects";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
