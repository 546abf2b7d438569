// Merge request diffs kept in external storage.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "georep/replicable.h"

namespace georep::replicators {

struct MergeRequestDiff : BlobType {
  static constexpr std::string_view kName = "merge_request_diff";
  static constexpr std::string_view kTitle = "Merge request diff";
  static constexpr std::string_view kModelTable = "sample.merge_request_diffs";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
