// Streams an HTTP GET into a sink (a file, an object upload: the caller's
// blob store decides), hashing while it writes, so a downloaded blob needs
// no second read. Keeps its connection alive between downloads. One object
// per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/sha256.h"

typedef void CURL;

namespace georep::transport {

// Where a downloaded body's bytes go, piece by piece. An error stops the
// transfer.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual absl::Status Write(absl::string_view piece) = 0;
};

struct DownloadResult {
  long http_status = 0;
  int64_t size = 0;        // bytes written (200 only)
  std::string sha256;      // of the bytes written (200 only)
  std::string error_body;  // first KiB of a non-200 body
};

// One blob of a batch response (framing: api/geo_routes.h).
struct BatchPart {
  int64_t id = 0;
  // Where the bytes of a 200 go (written, not made durable: the caller
  // seals the batch's blobs at once). A part cut short leaves its sink
  // partly written and `received` false: the caller discards it.
  BodySink* sink = nullptr;
  // The outcome.
  bool received = false;  // its line, and its bytes for a 200, arrived whole
  int code = 0;           // 200; 404 no such row or file; 403 path refused
  int64_t size = 0;
  std::string sha256;  // of the bytes written (200 only)
};

// Parses a batch body fed in pieces, writing each 200 part to its sink.
// Parts must come in the order of `parts`.
class BatchReceiver {
 public:
  explicit BatchReceiver(std::vector<BatchPart>* parts) : parts_(parts) {}
  ~BatchReceiver();
  BatchReceiver(const BatchReceiver&) = delete;
  BatchReceiver& operator=(const BatchReceiver&) = delete;

  // False once the body breaks the framing or a write fails (see error()).
  bool Feed(const char* data, size_t len);
  const absl::Status& error() const { return error_; }

 private:
  bool Header();  // parses line_
  bool Finish();  // the current 200 part is complete

  std::vector<BatchPart>* parts_;
  size_t next_ = 0;
  std::string line_;
  bool in_body_ = false;
  int64_t left_ = 0;
  Sha256 hash_;
  absl::Status error_;
};

struct BatchDownload {
  long http_status = 0;
  std::string error_body;  // first KiB of a non-200 body
  absl::Status error;      // network or framing error; parts not received are unknown
};

class BlobDownloader {
 public:
  BlobDownloader();
  ~BlobDownloader();
  BlobDownloader(const BlobDownloader&) = delete;
  BlobDownloader& operator=(const BlobDownloader&) = delete;

  // GETs `url` into `sink` (a 200's body only; it is not made durable).
  // Unavailable for network errors; the sink's own error as it gave it.
  absl::StatusOr<DownloadResult> Download(const std::string& url,
                                          const std::vector<std::string>& headers, BodySink& sink);
  // GETs a batch (api/geo_routes.h) into the parts' sinks; see BatchPart
  // for what each part got.
  BatchDownload DownloadBatch(const std::string& url, const std::vector<std::string>& headers,
                              std::vector<BatchPart>& parts);

 private:
  // One GET on the kept connection, the body to `on_data` (a curl write
  // callback) with `data`; returns the CURLcode.
  using WriteCallback = size_t (*)(char* bytes, size_t size, size_t n, void* data);
  int Get(const std::string& url, const std::vector<std::string>& headers, WriteCallback on_data,
          void* data);
  CURL* curl_;
};

}  // namespace georep::transport
