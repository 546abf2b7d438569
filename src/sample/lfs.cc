// The sample forge's Git LFS objects: rows of sample.lfs_objects attached
// to a project (project_id), named by the SHA-256 of their bytes, one per
// project and object. The daemon serves the LFS API over them
// (api/lfs_routes.h); they replicate as the lfs_object blob replicable.
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "sample/sample.h"

namespace georep::sample {

absl::Status InstallLfsSchema(db::Connection& main) {
  return main.ExecScript(
      "CREATE INDEX IF NOT EXISTS lfs_objects_project_sha256 "
      "ON sample.lfs_objects (project_id, sha256);\n");
}

absl::StatusOr<std::optional<api::LfsObject>> FindLfsObject(db::Connection& main,
                                                            const std::string& repo,
                                                            const std::string& oid) {
  const std::string project = ProjectOf(repo);
  if (project.empty()) return std::optional<api::LfsObject>();
  auto r = main.Exec(
      "SELECT l.id, l.size FROM sample.lfs_objects l JOIN sample.projects p ON p.id = l.project_id "
      "WHERE p.path = $1 AND l.sha256 = $2 ORDER BY l.id LIMIT 1",
      {project, oid});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<api::LfsObject>();
  return std::optional<api::LfsObject>(api::LfsObject{r->GetInt64(0, 0), r->GetInt64(0, 1)});
}

absl::Status StoreLfsObject(db::Connection& main, const framework::BlobStore& blobs,
                            const std::string& repo, const std::string& oid,
                            absl::string_view bytes) {
  const std::string project = ProjectOf(repo);
  Created out{0, oid, static_cast<int64_t>(bytes.size())};
  std::string written;
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto p = main.Exec("SELECT id FROM sample.projects WHERE path = $1 FOR SHARE", {project});
    if (!p.ok()) return p.status();
    if (project.empty() || p->rows() == 0) {
      return absl::NotFoundError(absl::StrCat("no project holds LFS objects at ", repo));
    }
    const int64_t project_id = p->GetInt64(0, 0);
    // One upload of an object per project at a time; the second finds it.
    auto lock = main.Exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                          {absl::StrCat("sample.lfs_objects ", project_id, " ", oid)});
    if (!lock.ok()) return lock.status();
    auto there =
        main.Exec("SELECT 1 FROM sample.lfs_objects WHERE project_id = $1 AND sha256 = $2 LIMIT 1",
                  {absl::StrCat(project_id), oid});
    if (!there.ok()) return there.status();
    if (there->rows() > 0) return absl::OkStatus();
    return InsertBlob(main, blobs, "lfs_object", bytes, project_id, &out, &written);
  });
  if (!s.ok()) RemoveWritten(blobs, written);
  return s;
}

api::LfsStore LfsObjects() {
  return api::LfsStore{.replicable = "lfs_object", .find = FindLfsObject, .store = StoreLfsObject};
}

}  // namespace georep::sample
