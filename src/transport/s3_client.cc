#include "transport/s3_client.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "transport/http_client.h"
#include "util/logging.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {

// Percent-encodes all but S3's unreserved characters and '/' (a key's path).
std::string EncodeKey(absl::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// The text of the first <tag>…</tag> in `xml`, "" if none.
std::string XmlText(absl::string_view xml, absl::string_view tag) {
  std::string open = absl::StrCat("<", tag, ">");
  size_t at = xml.find(open);
  if (at == absl::string_view::npos) return "";
  at += open.size();
  size_t end = xml.find(absl::StrCat("</", tag, ">"), at);
  return end == absl::string_view::npos ? "" : std::string(xml.substr(at, end - at));
}

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

absl::Status ValidateS3(const S3Location& l, const S3Options& o) {
  auto bad = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("object storage \"", field, "\": ", why));
  };
  if (!absl::StartsWith(l.endpoint, "http://") && !absl::StartsWith(l.endpoint, "https://")) {
    return bad("endpoint",
               absl::StrCat("must be an http:// or https:// URL, not \"", l.endpoint, "\""));
  }
  if (l.bucket.size() < 3 || l.bucket.size() > 63 ||
      !absl::ascii_isalnum(static_cast<unsigned char>(l.bucket.front())) ||
      !absl::ascii_isalnum(static_cast<unsigned char>(l.bucket.back()))) {
    return bad("bucket", absl::StrCat("\"", l.bucket,
                                      "\" is not a bucket name (3 to 63 characters, starting and "
                                      "ending with a letter or digit)"));
  }
  for (char c : l.bucket) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return bad("bucket", absl::StrCat("\"", l.bucket,
                                        "\" may hold only lowercase letters, digits, '-' and '.'"));
    }
  }
  if (l.region.empty()) return bad("region", "must be set (\"us-east-1\" if the store has none)");
  if (l.access_key.empty() || l.secret_key.empty()) {
    return bad("access_key", "and its secret key must both be set");
  }
  if (absl::StartsWith(l.prefix, "/")) return bad("prefix", "must not start with '/'");
  for (absl::string_view segment : absl::StrSplit(l.prefix, '/')) {
    if (segment == "." || segment == "..") return bad("prefix", "must not hold . or .. segments");
  }
  if (o.part_size < (int64_t{5} << 20) || o.part_size > (int64_t{5} << 30)) {
    return bad("part_size", absl::StrCat(o.part_size, " bytes is outside S3's 5 MiB to 5 GiB"));
  }
  return absl::OkStatus();
}

struct S3Client::Answer {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

S3Client::S3Client(S3Location location, S3Options options)
    : location_(std::move(location)), options_(options) {
  while (!location_.endpoint.empty() && location_.endpoint.back() == '/')
    location_.endpoint.pop_back();
}

std::string S3Client::Url(absl::string_view key) const {
  std::string base;
  if (location_.path_style) {
    base = absl::StrCat(location_.endpoint, "/", location_.bucket);
  } else {
    size_t scheme = location_.endpoint.find("://") + 3;
    base = absl::StrCat(location_.endpoint.substr(0, scheme), location_.bucket, ".",
                        location_.endpoint.substr(scheme));
  }
  return absl::StrCat(base, "/", EncodeKey(absl::StrCat(location_.prefix, key)));
}

std::string S3Client::BucketUrl() const {
  std::string url = Url("");
  return url.substr(0, url.size() - 1 - EncodeKey(location_.prefix).size());
}

absl::StatusOr<S3Client::Answer> S3Client::Send(
    const std::string& method, absl::string_view key, const std::string& query,
    absl::string_view body, const std::vector<std::string>& headers,
    const std::function<bool(absl::string_view)>* on_body) {
  return SendTo(method, absl::StrCat(Url(key), query.empty() ? "" : "?", query), body, headers,
                on_body);
}

absl::StatusOr<S3Client::Answer> S3Client::SendTo(
    const std::string& method, const std::string& url, absl::string_view body,
    const std::vector<std::string>& headers,
    const std::function<bool(absl::string_view)>* on_body) {
  RequestOptions o{.method = method};
  o.body_view = body;
  o.headers = headers;
  o.headers.push_back(
      absl::StrCat("x-amz-content-sha256: ", body.empty() ? kEmptySha256 : Sha256Hex(body)));
  o.headers.push_back("Expect:");
  if (!body.empty() || method == "PUT" || method == "POST")
    o.headers.push_back("Content-Type: application/octet-stream");
  o.aws_sigv4 = absl::StrCat("aws:amz:", location_.region, ":s3");
  o.aws_credentials = absl::StrCat(location_.access_key, ":", location_.secret_key);
  o.timeout_seconds = options_.timeout_seconds;
  bool delivered = false;
  if (on_body != nullptr) {
    o.on_body = [&](absl::string_view piece) {
      delivered = true;
      return (*on_body)(piece);
    };
  }
  double backoff = options_.first_backoff_seconds;
  for (int attempt = 1;; ++attempt) {
    auto r = HttpRequest(url, o);
    const bool last = attempt >= options_.attempts || delivered;
    if (!r.ok()) {
      if (!last) {
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
        backoff *= 2;
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("object storage at ", location_.endpoint,
                       " (setting \"endpoint\"): ", r.status().message()));
    }
    const std::string code = XmlText(r->body, "Code");
    const bool retry = r->status >= 500 || code == "SlowDown" || code == "RequestTimeout";
    if (retry && !last) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff *= 2;
      continue;
    }
    // S3 may answer 200 to CompleteMultipartUpload with an error inside.
    if (r->status / 100 == 2 && !absl::StrContains(r->body, "<Error>"))
      return Answer{r->status, std::move(r->body), std::move(r->headers)};
    const std::string what =
        absl::StrCat(method, " ", url, ": HTTP ", r->status, code.empty() ? "" : " ", code,
                     XmlText(r->body, "Message").empty() ? "" : ": ", XmlText(r->body, "Message"));
    if (code == "NoSuchBucket" || (r->status == 404 && url == BucketUrl())) {
      return absl::NotFoundError(absl::StrCat("bucket \"", location_.bucket,
                                              "\" (setting \"bucket\") does not exist at ",
                                              location_.endpoint));
    }
    if (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied" ||
        r->status == 403) {
      return absl::PermissionDeniedError(
          absl::StrCat(location_.endpoint, " refused access key \"", location_.access_key,
                       "\" (settings \"access_key\" and \"secret_key\") for bucket \"",
                       location_.bucket, "\": ", what));
    }
    if (r->status == 404 || code == "NoSuchKey" || code == "NoSuchUpload")
      return absl::NotFoundError(what);
    if (r->status / 100 == 4) return absl::InvalidArgumentError(what);
    return absl::UnavailableError(what);
  }
}

absl::Status S3Client::Put(absl::string_view key, absl::string_view bytes) {
  auto r = Send("PUT", key, "", bytes);
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<int64_t> S3Client::Get(absl::string_view key,
                                      const std::function<bool(absl::string_view)>& on_body) {
  int64_t size = 0;
  std::function<bool(absl::string_view)> counted = [&](absl::string_view piece) {
    size += static_cast<int64_t>(piece.size());
    return on_body(piece);
  };
  auto r = Send("GET", key, "", "", {}, &counted);
  if (!r.ok()) return r.status();
  return size;
}

absl::StatusOr<std::optional<int64_t>> S3Client::Size(absl::string_view key) {
  auto r = Send("HEAD", key, "", "");
  if (absl::IsNotFound(r.status())) {
    // A HEAD's 404 has no body to say whether the key or the bucket is missing.
    auto bucket = SendTo("HEAD", BucketUrl(), "");
    if (!bucket.ok()) return bucket.status();
    return std::optional<int64_t>();
  }
  if (!r.ok()) return r.status();
  int64_t size = 0;
  auto it = r->headers.find("content-length");
  if (it == r->headers.end() || !absl::SimpleAtoi(it->second, &size)) {
    return absl::UnavailableError(absl::StrCat("HEAD ", Url(key), ": no Content-Length"));
  }
  return std::optional<int64_t>(size);
}

absl::Status S3Client::Delete(absl::string_view key) {
  auto r = Send("DELETE", key, "", "");
  if (absl::IsNotFound(r.status()) &&
      !absl::StrContains(r.status().message(), "(setting \"bucket\")"))
    return absl::OkStatus();
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<std::string> S3Client::StartMultipart(absl::string_view key) {
  auto r = Send("POST", key, "uploads=", "");
  if (!r.ok()) return r.status();
  std::string id = XmlText(r->body, "UploadId");
  if (id.empty()) {
    return absl::UnavailableError(
        absl::StrCat("POST ", Url(key), "?uploads: the answer names no UploadId"));
  }
  return id;
}

absl::StatusOr<std::string> S3Client::UploadPart(absl::string_view key,
                                                 const std::string& upload_id, int part_number,
                                                 absl::string_view bytes) {
  auto r =
      Send("PUT", key, absl::StrCat("partNumber=", part_number, "&uploadId=", EncodeKey(upload_id)),
           bytes);
  if (!r.ok()) return r.status();
  auto it = r->headers.find("etag");
  if (it == r->headers.end() || it->second.empty()) {
    return absl::UnavailableError(
        absl::StrCat("PUT ", Url(key), " part ", part_number, ": the answer has no ETag"));
  }
  return it->second;
}

absl::Status S3Client::CompleteMultipart(absl::string_view key, const std::string& upload_id,
                                         const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    absl::StrAppend(&xml, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>", etags[i],
                    "</ETag></Part>");
  }
  xml += "</CompleteMultipartUpload>";
  auto r = Send("POST", key, absl::StrCat("uploadId=", EncodeKey(upload_id)), xml);
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::Status S3Client::AbortMultipart(absl::string_view key, const std::string& upload_id) {
  auto r = Send("DELETE", key, absl::StrCat("uploadId=", EncodeKey(upload_id)), "");
  if (absl::IsNotFound(r.status())) return absl::OkStatus();  // already gone
  return r.ok() ? absl::OkStatus() : r.status();
}

S3Upload::S3Upload(S3Client* client, std::string key) : client_(client), key_(std::move(key)) {}

S3Upload::~S3Upload() {
  if (!done_) (void)Abort();
}

absl::Status S3Upload::Append(absl::string_view bytes) {
  pending_.append(bytes.data(), bytes.size());
  size_ += static_cast<int64_t>(bytes.size());
  const auto part = static_cast<size_t>(client_->options().part_size);
  while (pending_.size() > part) {
    if (auto s = Flush(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Sends the first part's worth of what is pending as the next part.
absl::Status S3Upload::Flush() {
  if (upload_id_.empty()) {
    auto id = client_->StartMultipart(key_);
    if (!id.ok()) return id.status();
    upload_id_ = *id;
    if (tracker_) {
      if (auto s = tracker_(upload_id_, true); !s.ok()) return s;
    }
  }
  const size_t n = std::min(pending_.size(), static_cast<size_t>(client_->options().part_size));
  auto etag = client_->UploadPart(key_, upload_id_, static_cast<int>(etags_.size()) + 1,
                                  absl::string_view(pending_).substr(0, n));
  if (!etag.ok()) return etag.status();
  etags_.push_back(*etag);
  pending_.erase(0, n);
  return absl::OkStatus();
}

absl::Status S3Upload::Commit() {
  absl::Status s;
  if (upload_id_.empty()) {
    s = client_->Put(key_, pending_);
  } else {
    if (!pending_.empty()) s = Flush();
    if (s.ok()) s = client_->CompleteMultipart(key_, upload_id_, etags_);
  }
  if (!s.ok()) {
    (void)Abort();
    return s;
  }
  done_ = true;
  pending_.clear();
  if (tracker_ && !upload_id_.empty()) (void)tracker_(upload_id_, false);
  return absl::OkStatus();
}

absl::Status S3Upload::Abort() {
  done_ = true;
  pending_.clear();
  pending_.shrink_to_fit();
  if (upload_id_.empty()) return absl::OkStatus();
  absl::Status s = client_->AbortMultipart(key_, upload_id_);
  if (!s.ok()) {
    log::Warn(
        "object storage: a multipart upload could not be aborted; its parts stay until it is "
        "aborted again or the bucket's lifecycle rule removes them",
        {{"url", client_->Url(key_)},
         {"upload_id", upload_id_},
         {"error", std::string(s.message())}});
    return s;
  }
  if (tracker_) (void)tracker_(upload_id_, false);
  return absl::OkStatus();
}

}  // namespace georep::transport
