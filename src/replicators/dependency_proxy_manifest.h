// Container image manifests cached by the dependency proxy.
// Verified by the SHA-256 of their bytes.
#pragma once

#include "replicators/sample_scope.h"

namespace georep::replicators {

struct DependencyProxyManifest : ProjectBlob {
  static constexpr std::string_view kName = "dependency_proxy_manifest";
  static constexpr std::string_view kTitle = "Dependency proxy manifest";
  static constexpr std::string_view kModelTable = "sample.dependency_proxy_manifests";
  static constexpr std::string_view kPathTemplate = "{file_path}";
};

}  // namespace georep::replicators
