// One version of a Terraform state file.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct TerraformStateVersion : ProjectBlob {
  static constexpr std::string_view kName = "terraform_state_version";
  static constexpr std::string_view kTitle = "Terraform state version";
  static constexpr std::string_view kModelTable = "sample.terraform_state_versions";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
