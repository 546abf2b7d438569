#include "api/geo_routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "db/connection.h"
#include "framework/spec/spec.h"
#include "framework/storage/blob_store.h"
#include "framework/sync/strategy.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/geo_auth.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/mutex.h"
#include "util/sha256.h"

namespace georep::api {
namespace {}  // namespace

HttpResponse GeoError(int status, absl::string_view code, absl::string_view message) {
  nlohmann::json j = {{"error", std::string(message)}, {"geo_code", std::string(code)}};
  return HttpResponse::Json(status, j.dump() + "\n");
}

SiteDirectory::SiteDirectory(std::string main_conninfo, double ttl_seconds)
    : conninfo_(std::move(main_conninfo)), ttl_seconds_(ttl_seconds) {}

absl::Status SiteDirectory::Refresh() {
  db::Connection* conn = db::ThreadConnection(conninfo_);
  if (conn == nullptr) return absl::UnavailableError("main database unreachable");
  auto list = site::ListSites(*conn);
  if (!list.ok()) return list.status();
  std::map<std::string, site::Site> fresh;
  for (auto& s : *list) {
    auto full = site::FindSite(*conn, s.name, /*with_secret=*/true);
    if (full.ok()) fresh[full->access_key] = *full;
  }
  by_key_ = std::move(fresh);
  loaded_at_ = WallSeconds();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<site::Site>> SiteDirectory::ByAccessKey(
    const std::string& access_key) {
  MutexLock lock(&mu_);
  if (WallSeconds() - loaded_at_ > ttl_seconds_) {
    if (auto s = Refresh(); !s.ok()) return s;
  }
  auto it = by_key_.find(access_key);
  // A key the copy says is unknown or disabled is looked up again (at most
  // every kRecheckSeconds): a site just added or enabled again is accepted
  // at once, not refused until the copy expires, while the secondary, which
  // sees the change in its replica, already fetches.
  if ((it == by_key_.end() || !it->second.enabled) &&
      WallSeconds() - loaded_at_ > kRecheckSeconds) {
    if (auto s = Refresh(); !s.ok()) return s;
    it = by_key_.find(access_key);
  }
  if (it == by_key_.end()) return std::optional<site::Site>();
  return std::optional<site::Site>(it->second);
}

namespace {

const ReplicableSpec* BlobSpec(const GeoRouteContext& ctx, const std::string& name) {
  for (const auto& s : ctx.specs) {
    if (s.name == name && framework::DescriptorOf(s).served_by_retrieve) return &s;
  }
  return nullptr;
}

// The model rows' relative paths (NULL paths left out), one query.
absl::StatusOr<std::map<int64_t, std::string>> RowPaths(const GeoRouteContext& ctx,
                                                        const ReplicableSpec& spec,
                                                        const std::vector<int64_t>& ids) {
  db::Connection* conn = db::ThreadConnection(ctx.main_conninfo);
  if (conn == nullptr) return absl::UnavailableError("main database unreachable");
  auto rows = conn->Exec(
      absl::StrCat("SELECT m.", framework::QuotedIdColumn(spec), ", ",
                   framework::PathSql(spec, "m"), " FROM ", framework::QuotedTable(spec),
                   " m WHERE m.", framework::QuotedIdColumn(spec), " = ANY($1::bigint[])"),
      {db::BigintArray(ids)});
  if (!rows.ok()) return absl::UnavailableError("main database query failed");
  std::map<int64_t, std::string> out;
  for (int i = 0; i < rows->rows(); ++i) {
    if (!rows->IsNull(i, 1)) out[rows->GetInt64(i, 0)] = std::string(rows->Get(i, 1));
  }
  return out;
}

// Where a row's blob is in the site's store; the HTTP code when its path
// is refused (403).
absl::StatusOr<std::string> LocateBlob(const GeoRouteContext& ctx, const ReplicableSpec& spec,
                                       int64_t id, const std::string& rel, int* code) {
  auto location = ctx.blobs->Locate(rel);
  if (!location.ok()) {
    log::Warn("refused row path", {{"replicable", spec.name},
                                   {"id", id},
                                   {"error", std::string(location.status().message())}});
    *code = 403;
  }
  return location;
}

// A blob that is a file, opened beneath the storage root without following
// a link (BlobStore::OpenFile); the HTTP code when not: 403 for a path that
// leaves the root, 404 for no such regular file. What is served is read
// from this descriptor, so a folder swapped for a link after the check
// serves nothing.
absl::StatusOr<int> OpenBlob(const ReplicableSpec& spec, int64_t id, const absl::StatusOr<int>& fd,
                             int* code) {
  if (fd.ok()) {
    *code = 200;
    return fd;
  }
  if (absl::IsNotFound(fd.status())) {
    // Something that is not a regular file (a FIFO, a socket, a device) was
    // refused without being opened for reading: worth an operator's look.
    if (absl::StrContains(fd.status().message(), "not a regular file")) {
      log::Warn(
          "refused a row's file: not a regular file",
          {{"replicable", spec.name}, {"id", id}, {"error", std::string(fd.status().message())}});
    }
    *code = 404;
    return fd.status();
  }
  log::Warn("refused row path",
            {{"replicable", spec.name}, {"id", id}, {"error", std::string(fd.status().message())}});
  *code = 403;
  return fd.status();
}

// The size of a blob that is not a file (an object), and the HTTP code:
// 200, 404 when there is none, 503 when the store does not answer.
int BlobSize(const framework::BlobStore& blobs, const ReplicableSpec& spec, int64_t id,
             const std::string& location, int64_t* size) {
  auto got = blobs.Size(location);
  if (!got.ok()) {
    log::Warn(
        "blob not read from the store",
        {{"replicable", spec.name}, {"id", id}, {"error", std::string(got.status().message())}});
    return 503;
  }
  if (!got->has_value()) return 404;
  *size = **got;
  return 200;
}

// A blob that is not a file of at most `whole_max` bytes is read whole, in
// one request (most blobs are small); a larger one is only sized (a HEAD),
// to be streamed. `*bytes` holds a small one; `*size` is either's size. The
// HTTP code: 200, 404 when there is none, 503 when the store does not answer.
int ReadOrSizeBlob(const framework::BlobStore& blobs, const ReplicableSpec& spec, int64_t id,
                   const std::string& location, int64_t whole_max,
                   std::optional<std::string>* bytes, int64_t* size) {
  std::string held;
  bool large = false;
  auto got = blobs.Read(location, [&](absl::string_view piece) {
    if (static_cast<int64_t>(held.size() + piece.size()) > whole_max) {
      large = true;
      return false;
    }
    held.append(piece.data(), piece.size());
    return true;
  });
  if (got.ok()) {
    *size = static_cast<int64_t>(held.size());
    *bytes = std::move(held);
    return 200;
  }
  if (large) return BlobSize(blobs, spec, id, location, size);
  // (a missing bucket is NotFound too, saying "bucket \"…\" …": the store's fault)
  if (absl::IsNotFound(got.status()) && !absl::StartsWith(got.status().message(), "bucket \""))
    return 404;
  log::Warn(
      "blob not read from the store",
      {{"replicable", spec.name}, {"id", id}, {"error", std::string(got.status().message())}});
  return 503;
}

// A blob up to this size is read from a store that is not files whole
// before it is answered; a larger one is streamed.
constexpr int64_t kWholeObjectMax = int64_t{1} << 20;

// One blob that is not a file: small, answered whole; large, streamed as it
// is read, and a read that fails once bytes have gone cuts the connection,
// so the secondary sees a failed fetch, never a short blob.
HttpResponse RetrieveObject(const GeoRouteContext& ctx, const ReplicableSpec& spec, int64_t id,
                            const std::string& location) {
  int64_t size = 0;
  std::optional<std::string> whole;
  int code = ReadOrSizeBlob(*ctx.blobs, spec, id, location, kWholeObjectMax, &whole, &size);
  if (code == 404) return GeoError(404, "FILE_NOT_FOUND", "object not found in the store");
  if (code != 200) return GeoError(503, "UNAVAILABLE", "the store does not answer");
  HttpResponse r;
  r.content_type = "application/octet-stream";
  if (whole) {
    r.body = std::move(*whole);
    return r;
  }
  r.stream = [blobs = ctx.blobs, location](const HttpResponse::Writer& write) {
    auto got = blobs->Read(location, write);
    if (!got.ok()) throw std::runtime_error(std::string(got.status().message()));
  };
  return r;
}

HttpResponse Retrieve(const GeoRouteContext& ctx, const HttpRequest& req, const PathParams& p) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(p.at("id"), &id) || id <= 0) return GeoError(404, "NOT_FOUND", "bad id");
  if (auto refused =
          RefuseGeoRequest(*ctx.sites, req, transport::BlobRequestData(p.at("replicable"), id)))
    return *refused;
  const ReplicableSpec* spec = BlobSpec(ctx, p.at("replicable"));
  if (spec == nullptr) return GeoError(404, "UNKNOWN_REPLICABLE", "no such replicable");
  auto paths = RowPaths(ctx, *spec, {id});
  if (!paths.ok()) return GeoError(503, "UNAVAILABLE", paths.status().message());
  if (!paths->contains(id)) return GeoError(404, "FILE_NOT_FOUND", "no such record");
  int code = 0;
  auto location = LocateBlob(ctx, *spec, id, paths->at(id), &code);
  if (!location.ok()) return GeoError(403, "PATH_REFUSED", "the record's path is refused");
  auto file = ctx.blobs->OpenFile(*location);
  if (!file) return RetrieveObject(ctx, *spec, id, *location);
  auto fd = OpenBlob(*spec, id, *file, &code);
  if (!fd.ok()) {
    return code == 403
               ? GeoError(403, "PATH_REFUSED", "the record's path is outside the storage root")
               : GeoError(404, "FILE_NOT_FOUND", fd.status().message());
  }
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.file = std::make_shared<const OpenFile>(*fd);
  return r;
}

// One part of a /geo/retrieve-batch response, made ready on the handler's
// thread.
struct BatchPart {
  int64_t id;
  int code;
  int fd = -1;
  int64_t size = 0;
  std::string location;              // of a blob that is not a file, to stream
  std::optional<std::string> whole;  // a small such blob, read already
};
struct BatchParts : std::vector<BatchPart> {
  ~BatchParts() {  // also when the response is never streamed
    for (BatchPart& p : *this) {
      if (p.fd >= 0) close(p.fd);
    }
  }
};

// Each file is opened here, on the handler's thread, so the stream only
// copies bytes; a file is sent with the size it had when opened. Counts each
// part under its HTTP code in `blobs`.
std::shared_ptr<BatchParts> OpenParts(const GeoRouteContext& ctx, const ReplicableSpec& spec,
                                      const std::vector<int64_t>& ids,
                                      const std::map<int64_t, std::string>& paths,
                                      std::map<int, int64_t>& blobs) {
  auto parts = std::make_shared<BatchParts>();
  constexpr int64_t kWholeBatchMax = int64_t{32} << 20;
  int64_t whole_left = kWholeBatchMax;
  for (int64_t id : ids) {
    BatchPart part{id, 404};
    auto it = paths.find(id);
    auto location = it == paths.end() ? absl::StatusOr<std::string>(absl::NotFoundError(""))
                                      : LocateBlob(ctx, spec, id, it->second, &part.code);
    auto file = location.ok() ? ctx.blobs->OpenFile(*location) : std::nullopt;
    if (it == paths.end() || !location.ok()) {
    } else if (!file) {
      // Small objects are read whole here, up to kWholeBatchMax in all; the
      // others are sized, and streamed.
      part.code = ReadOrSizeBlob(*ctx.blobs, spec, id, *location,
                                 std::min(kWholeObjectMax, whole_left), &part.whole, &part.size);
      if (part.whole) whole_left -= part.size;
      if (part.code == 200 && !part.whole) part.location = *location;
    } else {
      auto fd = OpenBlob(spec, id, *file, &part.code);
      if (fd.ok()) part.fd = *fd;
      struct stat st;
      if (part.fd >= 0 && fstat(part.fd, &st) == 0) {
        part.size = st.st_size;
      } else if (fd.ok()) {
        part.code = 404;
      }
    }
    ++blobs[part.code];
    parts->push_back(part);
  }
  return parts;
}

// The body of a /geo/retrieve-batch response: each part's line, then its
// bytes, from memory, the store or its file.
void WriteParts(BatchParts& parts, const framework::BlobStore& blobs,
                const HttpResponse::Writer& write) {
  constexpr size_t kFlushAt = 256 * 1024;
  std::string buf;
  bool client_gone = false;
  for (BatchPart& part : parts) {
    if (!client_gone && part.whole) {
      absl::StrAppend(&buf, part.id, " ", part.code, " ", part.size, "\n", *part.whole);
      part.whole.reset();
      if (buf.size() >= kFlushAt) {
        if (!write(buf)) client_gone = true;
        buf.clear();
      }
      continue;
    }
    if (!client_gone && !part.location.empty()) {
      absl::StrAppend(&buf, part.id, " ", part.code, " ", part.size, "\n");
      int64_t left = part.size;
      auto got = blobs.Read(part.location, [&](absl::string_view piece) {
        if (static_cast<int64_t>(piece.size()) > left) return false;  // grew since its HEAD
        buf.append(piece.data(), piece.size());
        left -= static_cast<int64_t>(piece.size());
        if (buf.size() >= kFlushAt) {
          if (!write(buf)) client_gone = true;
          buf.clear();
        }
        return !client_gone;
      });
      if (client_gone) break;
      // Unreadable, or another size than its HEAD said: the framing cannot
      // hold, so the connection is cut and the secondary fetches again.
      if (!got.ok() || left != 0) {
        throw std::runtime_error(
            absl::StrCat("blob ", part.id, " changed or failed in the store: ",
                         got.ok() ? "its size changed" : std::string(got.status().message())));
      }
      continue;
    }
    if (!client_gone) {
      absl::StrAppend(&buf, part.id, " ", part.code, " ", part.size, "\n");
      int64_t left = part.size;
      while (left > 0) {
        size_t at = buf.size();
        buf.resize(at + std::min<int64_t>(left, 64 * 1024));
        ssize_t n = read(part.fd, buf.data() + at, buf.size() - at);
        if (n <= 0) {  // shrank since it was opened: the framing cannot hold
          buf.resize(at);
          client_gone = true;
          break;
        }
        buf.resize(at + static_cast<size_t>(n));
        left -= n;
        if (buf.size() >= kFlushAt) {
          if (!write(buf)) client_gone = true;
          buf.clear();
          if (client_gone) break;
        }
      }
    }
    if (part.fd >= 0) close(part.fd);
    part.fd = -1;
  }
  if (!client_gone && !buf.empty()) write(buf);
}

HttpResponse RetrieveBatch(const GeoRouteContext& ctx, const HttpRequest& req, const PathParams& p,
                           std::map<int, int64_t>& blobs) {
  std::vector<int64_t> ids;
  for (absl::string_view part : absl::StrSplit(p.at("ids"), ',')) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(part, &id) || id <= 0) return GeoError(404, "NOT_FOUND", "bad id list");
    ids.push_back(id);
  }
  if (ids.size() > kMaxBatchIds) {
    return GeoError(400, "TOO_MANY_IDS", absl::StrCat("at most ", kMaxBatchIds, " ids a request"));
  }
  if (auto refused = RefuseGeoRequest(*ctx.sites, req,
                                      transport::BlobBatchRequestData(p.at("replicable"), ids)))
    return *refused;
  const ReplicableSpec* spec = BlobSpec(ctx, p.at("replicable"));
  if (spec == nullptr) return GeoError(404, "UNKNOWN_REPLICABLE", "no such replicable");
  auto paths = RowPaths(ctx, *spec, ids);
  if (!paths.ok()) return GeoError(503, "UNAVAILABLE", paths.status().message());
  std::shared_ptr<BatchParts> parts = OpenParts(ctx, *spec, ids, *paths, blobs);
  HttpResponse r;
  r.content_type = "application/x-georep-blob-batch";
  r.stream = [parts, blobs = ctx.blobs](const HttpResponse::Writer& write) {
    WriteParts(*parts, *blobs, write);
  };
  return r;
}

}  // namespace

std::optional<HttpResponse> RefuseGeoRequest(SiteDirectory& sites, const HttpRequest& req,
                                             const std::string& data, site::Site* asking) {
  // Who is asking.
  auto creds = transport::ParseGeoAuthorization(req.Header("authorization"));
  if (!creds.ok()) return GeoError(401, "UNAUTHORIZED", creds.status().message());
  auto site = sites.ByAccessKey(creds->access_key);
  if (!site.ok()) return GeoError(503, "UNAVAILABLE", "site directory unavailable");
  if (!site->has_value()) return GeoError(401, "UNAUTHORIZED", "unknown access key");
  const site::Site& who = **site;
  if (!who.enabled) return GeoError(403, "SITE_DISABLED", "site is disabled");
  if (who.primary) return GeoError(403, "FORBIDDEN", "the primary does not replicate from itself");
  // What is asked for, exactly as the token says.
  int64_t now = static_cast<int64_t>(WallSeconds());
  if (auto s = transport::VerifyGeoToken(creds->token, who.secret_access_key, data, now); !s.ok()) {
    int status = s.code() == absl::StatusCode::kPermissionDenied ? 403 : 401;
    log::Warn("refused geo request",
              {{"site", who.name}, {"path", req.path}, {"error", std::string(s.message())}});
    return GeoError(status, status == 403 ? "FORBIDDEN" : "UNAUTHORIZED", s.message());
  }
  if (asking != nullptr) *asking = who;
  return std::nullopt;
}

void AddGeoRoutes(Router& router, const GeoRouteContext& ctx) {
  auto counted = [&ctx](auto handler) {
    return [&ctx, handler](const HttpRequest& req, const PathParams& p) {
      if (!ctx.role->primary()) return GeoError(404, "NOT_FOUND", "not the primary");
      std::map<int, int64_t> blobs;  // by the HTTP code each blob was answered with
      HttpResponse r = handler(ctx, req, p, blobs);
      if (ctx.metrics) {
        // A label from the request only when it is a known replicable: any
        // other name would add a series for ever (one per request).
        const std::string label =
            BlobSpec(ctx, p.at("replicable")) != nullptr ? p.at("replicable") : "other";
        ctx.metrics->Add("georep_retrieve_requests_total",
                         {{"replicable", label}, {"status", absl::StrCat(r.status)}}, 1);
        for (const auto& [code, n] : blobs) {
          ctx.metrics->Add("georep_retrieve_blobs_total",
                           {{"replicable", label}, {"status", absl::StrCat(code)}}, n);
        }
      }
      return r;
    };
  };
  router.Add("GET", "/geo/retrieve/{replicable}/{id}",
             counted([](const GeoRouteContext& ctx, const HttpRequest& req, const PathParams& p,
                        std::map<int, int64_t>& blobs) {
               HttpResponse r = Retrieve(ctx, req, p);
               ++blobs[r.status];
               return r;
             }));
  router.Add(
      "GET", "/geo/retrieve-batch/{replicable}/{ids}",
      counted([](const GeoRouteContext& ctx, const HttpRequest& req, const PathParams& p,
                 std::map<int, int64_t>& blobs) { return RetrieveBatch(ctx, req, p, blobs); }));
}

}  // namespace georep::api
