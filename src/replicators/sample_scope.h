// How the sample forge's items map to a namespace and a shard, for
// selective sync (georep/selective_sync.h): a project lives in a namespace
// (sample.namespaces.path is its full path) on a repository storage; a blob
// belongs to the project of its project_id, or to none (NULL: in every
// selection). Replicables derive these instead of BlobType/RepositoryType.
#pragma once

#include "georep/replicable.h"

namespace georep::replicators {

// A blob of the sample forge, optionally attached to a project.
struct ProjectBlob : BlobType {
  static constexpr std::string_view kNamespaceSql =
      "SELECT n.path FROM sample.projects p JOIN sample.namespaces n ON n.id = p.namespace_id "
      "WHERE p.id = {project_id}";
  static constexpr std::string_view kShardSql =
      "SELECT p.repository_storage FROM sample.projects p WHERE p.id = {project_id}";
};

// A repository whose model row is the project (sample.projects).
struct ProjectRepositoryType : RepositoryType {
  static constexpr std::string_view kNamespaceSql =
      "SELECT n.path FROM sample.namespaces n WHERE n.id = {namespace_id}";
  static constexpr std::string_view kShardSql = "{repository_storage}";
};

}  // namespace georep::replicators
