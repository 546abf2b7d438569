#include "framework/blob_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "framework/backoff.h"
#include "framework/spec.h"
#include "framework/verification.h"
#include "transport/geo_auth.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/random.h"

namespace georep::framework {
namespace fs = std::filesystem;

std::string TempDir(const std::string& storage_root) { return storage_root + "/.georep-tmp"; }

absl::Status BlobSyncer::Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                               const Target& target, bool* missing_on_primary) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  const std::optional<std::string>& primary_checksum = target.primary_checksum;
  const std::string& local = target.local;

  std::string tmp =
      absl::StrCat(TempDir(ctx_.storage_root), "/", ctx_.worker_id, "-", RandomHex(8));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve/", spec.name, "/", item.model_id);
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobRequestData(spec.name, item.model_id), now);
  auto got = downloader_.Download(url, {"Authorization: " + auth}, tmp);
  if (!got.ok()) {
    return absl::Status(got.status().code(), absl::StrCat("fetch ", what, " from ", ctx_.site_name,
                                                          ": ", got.status().message()));
  }
  if (got->http_status != 200) {
    *missing_on_primary =
        got->http_status == 404 && got->error_body.find("FILE_NOT_FOUND") != std::string::npos;
    return absl::UnavailableError(absl::StrCat("fetch ", what, " from ", ctx_.site_name, ": HTTP ",
                                               got->http_status, " ",
                                               got->error_body.substr(0, 200)));
  }
  if (auto s = MakeDirs(fs::path(local).parent_path().string(), 0755); !s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  // Verified with no second read when the streamed checksum is the primary's.
  if (primary_checksum && *primary_checksum != got->sha256) {
    unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("fetch ", what, ": checksum ", got->sha256,
                                            " does not match the primary's ", *primary_checksum));
  }
  SyncResult result{local, got->size, got->sha256,
                    primary_checksum ? kVerificationSucceeded : kVerificationDisabled};
  std::function<absl::Status()> install = [&]() -> absl::Status {
    if (rename(tmp.c_str(), local.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename into ", local, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  };
  auto done = ctx_.completions ? ctx_.completions->Complete(*tracking_, spec, item, result, install)
                               : CompleteSync(*tracking_, spec, item, result, install);
  if (!done.ok() || !*done) unlink(tmp.c_str());
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  return absl::OkStatus();
}

}  // namespace georep::framework
