#include "transport/blob_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {

struct Sink {
  CURL* curl;
  int fd;
  Sha256 hash;
  int64_t size = 0;
  long status = 0;
  std::string error_body;
  int write_errno = 0;
};

size_t OnData(char* data, size_t size, size_t n, void* user) {
  Sink* s = static_cast<Sink*>(user);
  size_t len = size * n;
  if (s->status == 0) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
  if (s->status != 200) {
    if (s->error_body.size() < 1024)
      s->error_body.append(data, std::min(len, 1024 - s->error_body.size()));
    return len;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(s->fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      s->write_errno = errno;
      return 0;  // aborts the transfer
    }
    off += static_cast<size_t>(w);
  }
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

absl::StatusOr<DownloadResult> BlobDownloader::Download(const std::string& url,
                                                        const std::vector<std::string>& headers,
                                                        const std::string& dest) {
  int fd = open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::PermissionDeniedError(absl::StrCat("create ", dest, ": ", strerror(errno)));
  Sink sink{curl_, fd, {}, 0, 0, {}, 0};
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_reset(curl_);
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 60L);
  // No overall timeout (large blobs); give up if under 1 KiB/s for 60 s.
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl_, CURLOPT_BUFFERSIZE, 512L * 1024);
  CURLcode rc = curl_easy_perform(curl_);
  curl_slist_free_all(list);
  if (sink.status == 0) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &sink.status);

  absl::Status error = absl::OkStatus();
  if (rc != CURLE_OK) {
    error = sink.write_errno
                ? absl::ResourceExhaustedError(
                      absl::StrCat("write ", dest, ": ", strerror(sink.write_errno)))
                : absl::UnavailableError(absl::StrCat("GET ", url, ": ", curl_easy_strerror(rc)));
  } else if (sink.status == 200 && fdatasync(fd) != 0) {
    error = absl::InternalError(absl::StrCat("fsync ", dest, ": ", strerror(errno)));
  }
  close(fd);
  if (!error.ok() || sink.status != 200) unlink(dest.c_str());
  if (!error.ok()) return error;
  DownloadResult out;
  out.http_status = sink.status;
  out.error_body = std::move(sink.error_body);
  if (sink.status == 200) {
    out.size = sink.size;
    out.sha256 = sink.hash.HexDigest();
  }
  return out;
}

}  // namespace georep::transport
