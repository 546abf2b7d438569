// Immutable files of the package registry.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct PackageFile : ProjectBlob {
  static constexpr std::string_view kName = "package_file";
  static constexpr std::string_view kTitle = "Package file";
  static constexpr std::string_view kModelTable = "sample.package_files";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
