#include "transport/blob_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "transport/http_client.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {

struct Sink {
  CURL* curl;
  BodySink* out;
  Sha256 hash;
  int64_t size = 0;
  long status = 0;
  std::string error_body;
  absl::Status write_error;
};

// Reads the status at the first piece; keeps the first KiB of a non-200
// body. True when the piece was such a body (and so is consumed).
bool KeptErrorBody(CURL* curl, long* status, std::string* error_body, const char* data,
                   size_t len) {
  if (*status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  if (*status == 200) return false;
  if (error_body->size() < 1024) error_body->append(data, std::min(len, 1024 - error_body->size()));
  return true;
}

size_t OnData(char* data, size_t size, size_t n, void* user) {
  Sink* s = static_cast<Sink*>(user);
  size_t len = size * n;
  if (KeptErrorBody(s->curl, &s->status, &s->error_body, data, len)) return len;
  s->write_error = s->out->Write(absl::string_view(data, len));
  if (!s->write_error.ok()) return 0;  // aborts the transfer
  s->hash.Update(data, len);
  s->size += static_cast<int64_t>(len);
  return len;
}

}  // namespace

BlobDownloader::BlobDownloader() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

BlobDownloader::~BlobDownloader() { curl_easy_cleanup(curl_); }

int BlobDownloader::Get(const std::string& url, const std::vector<std::string>& headers,
                        WriteCallback on_data, void* data) {
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_reset(curl_);  // keeps the connection
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, data);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 60L);
  std::string ca = TrustedCaFile();
  if (!ca.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca.c_str());
  // No overall timeout (large blobs); give up if under 1 KiB/s for 60 s.
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl_, CURLOPT_BUFFERSIZE, 512L * 1024);
  CURLcode rc = curl_easy_perform(curl_);
  curl_slist_free_all(list);
  return rc;
}

absl::StatusOr<DownloadResult> BlobDownloader::Download(const std::string& url,
                                                        const std::vector<std::string>& headers,
                                                        BodySink& out) {
  Sink sink{curl_, &out, {}, 0, 0, {}, absl::OkStatus()};
  int rc = Get(url, headers, OnData, &sink);
  if (sink.status == 0) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &sink.status);
  if (!sink.write_error.ok()) return sink.write_error;
  if (rc != CURLE_OK) {
    return CurlFailure(
        rc, absl::StrCat("GET ", url, ": ", curl_easy_strerror(static_cast<CURLcode>(rc))));
  }
  DownloadResult result;
  result.http_status = sink.status;
  result.error_body = std::move(sink.error_body);
  if (sink.status == 200) {
    result.size = sink.size;
    result.sha256 = sink.hash.HexDigest();
  }
  return result;
}

BatchReceiver::~BatchReceiver() = default;

bool BatchReceiver::Header() {
  std::vector<std::string> f = absl::StrSplit(line_, ' ');
  int64_t id = 0, size = -1;
  int code = 0;
  if (f.size() != 3 || !absl::SimpleAtoi(f[0], &id) || !absl::SimpleAtoi(f[1], &code) ||
      !absl::SimpleAtoi(f[2], &size) || size < 0) {
    error_ =
        absl::DataLossError(absl::StrCat("batch: bad part line \"", line_.substr(0, 80), "\""));
    return false;
  }
  if (next_ >= parts_->size() || (*parts_)[next_].id != id) {
    error_ = absl::DataLossError(absl::StrCat("batch: part for id ", id, " out of order"));
    return false;
  }
  BatchPart& part = (*parts_)[next_];
  part.code = code;
  part.size = size;
  if (code != 200) {
    if (size != 0) {
      error_ =
          absl::DataLossError(absl::StrCat("batch: part ", id, " has code ", code, " and bytes"));
      return false;
    }
    part.received = true;
    ++next_;
    return true;
  }
  if (part.sink == nullptr) {
    error_ = absl::InternalError(absl::StrCat("batch: no sink for part ", id));
    return false;
  }
  in_body_ = true;
  left_ = size;
  return left_ > 0 || Finish();
}

bool BatchReceiver::Finish() {
  BatchPart& part = (*parts_)[next_];
  part.sha256 = hash_.HexDigest();
  part.received = true;
  in_body_ = false;
  ++next_;
  return true;
}

bool BatchReceiver::Feed(const char* data, size_t len) {
  if (!error_.ok()) return false;
  size_t off = 0;
  while (off < len) {
    if (!in_body_) {
      const char* nl = static_cast<const char*>(memchr(data + off, '\n', len - off));
      size_t end = nl ? static_cast<size_t>(nl - data) : len;
      line_.append(data + off, end - off);
      off = nl ? end + 1 : len;
      if (line_.size() > 100) {
        error_ = absl::DataLossError("batch: part line too long");
        return false;
      }
      if (!nl) break;
      bool ok = Header();
      line_.clear();
      if (!ok) return false;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<int64_t>(left_, static_cast<int64_t>(len - off)));
    if (absl::Status w = (*parts_)[next_].sink->Write(absl::string_view(data + off, n)); !w.ok()) {
      error_ = w;
      return false;
    }
    hash_.Update(data + off, n);
    off += n;
    left_ -= static_cast<int64_t>(n);
    if (left_ == 0 && !Finish()) return false;
  }
  return true;
}

namespace {

struct BatchSink {
  CURL* curl;
  BatchReceiver* receiver;
  long status = 0;
  std::string error_body;
};

size_t OnBatchData(char* data, size_t size, size_t n, void* user) {
  BatchSink* s = static_cast<BatchSink*>(user);
  size_t len = size * n;
  if (KeptErrorBody(s->curl, &s->status, &s->error_body, data, len)) return len;
  return s->receiver->Feed(data, len) ? len : 0;  // 0 aborts the transfer
}

}  // namespace

BatchDownload BlobDownloader::DownloadBatch(const std::string& url,
                                            const std::vector<std::string>& headers,
                                            std::vector<BatchPart>& parts) {
  BatchDownload out;
  BatchReceiver receiver(&parts);
  BatchSink sink{curl_, &receiver, 0, {}};
  int rc = Get(url, headers, OnBatchData, &sink);
  if (sink.status == 0) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &sink.status);
  out.http_status = sink.status;
  out.error_body = std::move(sink.error_body);
  if (!receiver.error().ok()) {
    out.error = receiver.error();
  } else if (rc != CURLE_OK) {
    out.error = CurlFailure(
        rc, absl::StrCat("GET ", url, ": ", curl_easy_strerror(static_cast<CURLcode>(rc))));
  }
  return out;
}

}  // namespace georep::transport
