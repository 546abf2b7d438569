// Streams an HTTP GET into a file, hashing while it writes, so a downloaded
// blob needs no second read. Keeps its connection alive between downloads.
// One object per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

typedef void CURL;

namespace georep::transport {

struct DownloadResult {
  long http_status = 0;
  int64_t size = 0;        // bytes written (200 only)
  std::string sha256;      // of the bytes written (200 only)
  std::string error_body;  // first KiB of a non-200 body
};

class BlobDownloader {
 public:
  BlobDownloader();
  ~BlobDownloader();
  BlobDownloader(const BlobDownloader&) = delete;
  BlobDownloader& operator=(const BlobDownloader&) = delete;

  // GETs `url` into a new file `dest` (O_EXCL), fsyncs it. On any failure or a
  // non-200 answer `dest` is removed. Unavailable for network errors.
  absl::StatusOr<DownloadResult> Download(const std::string& url,
                                          const std::vector<std::string>& headers,
                                          const std::string& dest);

 private:
  CURL* curl_;
};

}  // namespace georep::transport
