// Merge request diffs kept in external storage.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct MergeRequestDiff : ProjectBlob {
  static constexpr std::string_view kName = "merge_request_diff";
  static constexpr std::string_view kTitle = "Merge request diff";
  static constexpr std::string_view kModelTable = "sample.merge_request_diffs";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
