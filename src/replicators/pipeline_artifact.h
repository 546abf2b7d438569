// Reports computed for a whole CI pipeline (coverage, code quality).
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct PipelineArtifact : ProjectBlob {
  static constexpr std::string_view kName = "pipeline_artifact";
  static constexpr std::string_view kTitle = "Pipeline artifact";
  static constexpr std::string_view kModelTable = "sample.pipeline_artifacts";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
