// Archives and logs produced by CI jobs.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct JobArtifact : ProjectBlob {
  static constexpr std::string_view kName = "job_artifact";
  static constexpr std::string_view kTitle = "CI job artifact";
  static constexpr std::string_view kModelTable = "sample.job_artifacts";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
