// Secrets files (keystores, profiles) made available to CI jobs.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct CiSecureFile : ProjectBlob {
  static constexpr std::string_view kName = "ci_secure_file";
  static constexpr std::string_view kTitle = "CI secure file";
  static constexpr std::string_view kModelTable = "sample.ci_secure_files";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
