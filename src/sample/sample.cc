#include "sample/sample.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/write_gate.h"
#include "framework/spec/spec.h"
#include "framework/storage/blob_store.h"
#include "nlohmann/json.hpp"
#include "util/fs.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep::sample {
namespace fs = std::filesystem;

// The blob replicables of the built-in list whose model tables are the
// sample's: one list, so a new blob type is a new sample kind by itself.
const std::vector<std::string>& BlobKinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> out;
    for (const auto& spec : framework::BuiltinReplicables()) {
      if (spec.strategy == Strategy::kBlob && spec.model_table == TableOf(spec.name))
        out.push_back(spec.name);
    }
    return out;
  }();
  return kinds;
}

std::string TableOf(const std::string& kind) { return absl::StrCat("sample.", kind, "s"); }

namespace {

bool KnownKind(const std::string& kind) {
  for (const auto& k : BlobKinds()) {
    if (k == kind) return true;
  }
  return false;
}

// <kind>/<id mod 256, 2 hex digits>/<id>: at most a few thousand files per folder.
std::string PathSqlFor(const std::string& kind, absl::string_view id_expr) {
  return absl::StrCat("'", kind, "/' || lpad(to_hex(", id_expr, " % 256), 2, '0') || '/' || ",
                      id_expr);
}

// Writes the blob at `rel` whole (replacing what was there), durable when
// this returns.
absl::Status WriteInPlace(const framework::BlobStore& blobs, const std::string& rel,
                          absl::string_view bytes) {
  auto location = blobs.Locate(rel);
  if (!location.ok()) return location.status();
  return framework::PutBlob(blobs, *location, bytes);
}

}  // namespace

absl::Status InstallSchema(db::Connection& main) {
  std::string sql = "CREATE SCHEMA IF NOT EXISTS sample;\n";
  for (const auto& kind : BlobKinds()) {
    absl::StrAppend(&sql, "CREATE TABLE IF NOT EXISTS ", TableOf(kind),
                    " (id bigserial PRIMARY KEY, file_path text NOT NULL, size bigint NOT NULL, "
                    "sha256 text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                    "updated_at timestamptz NOT NULL DEFAULT now());\n");
    // The project a blob belongs to, if any (selective sync maps it to the
    // project's namespace and shard); added to tables of older demos too.
    absl::StrAppend(&sql, "ALTER TABLE ", TableOf(kind),
                    " ADD COLUMN IF NOT EXISTS project_id bigint;\n");
  }
  if (auto s = main.ExecScript(sql); !s.ok()) return s;
  if (auto s = InstallRepositorySchema(main); !s.ok()) return s;
  if (auto s = InstallLfsSchema(main); !s.ok()) return s;
  return InstallAccessSchema(main);
}

absl::StatusOr<Created> CreateBlob(db::Connection& main, const framework::BlobStore& blobs,
                                   const std::string& kind, absl::string_view bytes,
                                   std::optional<int64_t> project_id) {
  if (!KnownKind(kind))
    return absl::NotFoundError(absl::StrCat("no sample replicable \"", kind, "\""));
  Created out{0, Sha256Hex(bytes), static_cast<int64_t>(bytes.size())};
  std::string written;
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    if (project_id) {
      auto p = main.Exec("SELECT 1 FROM sample.projects WHERE id = $1 FOR SHARE",
                         {absl::StrCat(*project_id)});
      if (!p.ok()) return p.status();
      if (p->rows() == 0)
        return absl::InvalidArgumentError(absl::StrCat("project_id: no project ", *project_id));
    }
    return InsertBlob(main, blobs, kind, bytes, project_id, &out, &written);
  });
  if (!s.ok()) {
    RemoveWritten(blobs, written);
    return s;
  }
  return out;
}

void RemoveWritten(const framework::BlobStore& blobs, const std::string& location) {
  if (!location.empty()) (void)blobs.Remove(location);
}

absl::Status InsertBlob(db::Connection& main, const framework::BlobStore& blobs,
                        const std::string& kind, absl::string_view bytes,
                        std::optional<int64_t> project_id, Created* out, std::string* written) {
  {
    auto r =
        main.Exec(absl::StrCat("WITH n AS (SELECT nextval(pg_get_serial_sequence('", TableOf(kind),
                               "', 'id')) AS id) INSERT INTO ", TableOf(kind),
                               " (id, file_path, size, sha256, project_id) SELECT id, ",
                               PathSqlFor(kind, "id"),
                               ", $1, $2, nullif($3, '')::bigint FROM n RETURNING id, file_path"),
                  {absl::StrCat(out->size), out->sha256,
                   project_id ? absl::StrCat(*project_id) : std::string()});
    if (!r.ok()) return r.status();
    out->id = r->GetInt64(0, 0);
    std::string rel(r->Get(0, 1));
    auto location = blobs.Locate(rel);
    if (!location.ok()) return location.status();
    // Named before it is written: a write that fails half-way is removed too.
    *written = *location;
    return framework::PutBlob(blobs, *location, bytes);
  }
}

absl::StatusOr<Created> ReplaceBlob(db::Connection& main, const framework::BlobStore& blobs,
                                    const std::string& kind, int64_t id, absl::string_view bytes) {
  if (!KnownKind(kind))
    return absl::NotFoundError(absl::StrCat("no sample replicable \"", kind, "\""));
  Created out{id, Sha256Hex(bytes), static_cast<int64_t>(bytes.size())};
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto r = main.Exec(
        absl::StrCat("UPDATE ", TableOf(kind),
                     " SET size = $2, sha256 = $3, updated_at = clock_timestamp() WHERE id = $1 "
                     "RETURNING file_path"),
        {absl::StrCat(id), absl::StrCat(out.size), out.sha256});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return absl::NotFoundError(absl::StrCat(kind, " ", id, " not found"));
    return WriteInPlace(blobs, std::string(r->Get(0, 0)), bytes);
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status DeleteBlob(db::Connection& main, const framework::BlobStore& blobs,
                        const std::string& kind, int64_t id) {
  if (!KnownKind(kind))
    return absl::NotFoundError(absl::StrCat("no sample replicable \"", kind, "\""));
  auto r =
      main.Exec(absl::StrCat("DELETE FROM ", TableOf(kind), " WHERE id = $1 RETURNING file_path"),
                {absl::StrCat(id)});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat(kind, " ", id, " not found"));
  auto location = blobs.Locate(r->Get(0, 0));
  if (location.ok()) RemoveWritten(blobs, *location);
  return absl::OkStatus();
}

namespace {

// Seeding writes many new blobs: written as they come, then sealed at
// once (one sync of the file system; a few objects completed at a time),
// installed, and their places made durable at once, before their rows.
class BulkWriter {
 public:
  explicit BulkWriter(const framework::BlobStore& blobs) : blobs_(blobs) {}
  absl::Status Write(const std::string& rel, const std::string& bytes) {
    auto location = blobs_.Locate(rel);
    if (!location.ok()) return location.status();
    auto blob = blobs_.Create(*location, {.writer = "seed"});
    if (!blob.ok()) return blob.status();
    if (auto s = (*blob)->Write(bytes); !s.ok()) return s;
    pending_.push_back(std::move(*blob));
    return absl::OkStatus();
  }
  absl::Status Sync() {
    std::vector<framework::PendingBlob*> all;
    std::vector<std::string> locations;
    for (auto& b : pending_) {
      all.push_back(b.get());
      locations.push_back(b->location());
    }
    absl::Status s = blobs_.SealAll(all);
    for (size_t i = 0; s.ok() && i < pending_.size(); ++i) s = pending_[i]->Install();
    if (s.ok()) s = blobs_.SyncInstalled(locations);
    pending_.clear();
    return s;
  }

 private:
  const framework::BlobStore& blobs_;
  std::vector<std::unique_ptr<framework::PendingBlob>> pending_;
};

}  // namespace

absl::StatusOr<int64_t> Seed(db::Connection& main, const framework::BlobStore& blobs, int64_t count,
                             int64_t size) {
  const auto& kinds = BlobKinds();
  int64_t per_kind = count / static_cast<int64_t>(kinds.size());
  int64_t extra = count % static_cast<int64_t>(kinds.size());
  int64_t total = 0;
  BulkWriter writer(blobs);
  for (size_t k = 0; k < kinds.size(); ++k) {
    int64_t n = per_kind + (static_cast<int64_t>(k) < extra ? 1 : 0);
    if (n == 0) continue;
    // Content: a random prefix per kind with the id written over its start,
    // so every blob differs.
    std::string prefix = RandomHex(static_cast<size_t>(std::max<int64_t>(size / 2 + 1, 1)));
    prefix.resize(static_cast<size_t>(size));
    // Files first, rows after, in batches: a row never points at a file that
    // is not there yet.
    for (int64_t done = 0; done < n;) {
      int64_t batch = std::min<int64_t>(n - done, 10000);
      auto ids = main.Exec(absl::StrCat("SELECT nextval(pg_get_serial_sequence('",
                                        TableOf(kinds[k]), "', 'id')) FROM generate_series(1, $1)"),
                           {absl::StrCat(batch)});
      if (!ids.ok()) return ids.status();
      std::string id_list;
      std::string sha_list;
      for (int i = 0; i < ids->rows(); ++i) {
        int64_t id = ids->GetInt64(i, 0);
        std::string bytes = prefix;
        std::string tag = absl::StrCat(id, ":");
        bytes.replace(0, std::min(tag.size(), bytes.size()), tag.substr(0, bytes.size()));
        absl::StrAppend(&id_list, id_list.empty() ? "" : ",", id);
        absl::StrAppend(&sha_list, sha_list.empty() ? "" : ",", Sha256Hex(bytes));
        char hex[8];
        std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(id % 256));
        if (auto st = writer.Write(absl::StrCat(kinds[k], "/", hex, "/", id), bytes); !st.ok())
          return st;
      }
      if (auto st = writer.Sync(); !st.ok()) return st;
      auto ins = main.Exec(
          absl::StrCat("INSERT INTO ", TableOf(kinds[k]),
                       " (id, file_path, size, sha256) SELECT id, ", PathSqlFor(kinds[k], "id"),
                       ", $3, sha FROM unnest($1::bigint[], $2::text[]) AS t(id, sha)"),
          {absl::StrCat("{", id_list, "}"), absl::StrCat("{", sha_list, "}"), absl::StrCat(size)});
      if (!ins.ok()) return ins.status();
      done += batch;
      total += batch;
    }
  }
  return total;
}

namespace {

// The project blob `id` of `kind` belongs to; none when it belongs to none
// or cannot be found (then only an every-project token may change it).
std::optional<int64_t> BlobProject(db::Connection& main, const std::string& kind, int64_t id) {
  bool known = false;
  for (const auto& k : BlobKinds()) known = known || k == kind;
  if (!known) return std::nullopt;
  auto r = main.Exec(absl::StrCat("SELECT project_id FROM ", TableOf(kind), " WHERE id = $1"),
                     {absl::StrCat(id)});
  if (!r.ok() || r->rows() == 0 || r->IsNull(0, 0)) return std::nullopt;
  return r->GetInt64(0, 0);
}

}  // namespace

void AddRoutes(api::Router& router, const RouteContext& ctx) {
  AddRepositoryRoutes(router, ctx);  // before /api/v1/sample/{kind}
  AddTokenRoutes(router, ctx);
  auto conn = [&ctx]() -> db::Connection* {
    thread_local std::unique_ptr<db::Connection> c;
    if (!c) {
      auto opened = db::Connection::Open(ctx.main_conninfo);
      if (!opened.ok()) return nullptr;
      c = std::move(*opened);
    }
    return c.get();
  };
  auto answer = [](const absl::StatusOr<Created>& r) {
    if (!r.ok()) return api::HttpResponse::FromStatus(r.status());
    nlohmann::json j = {{"id", r->id}, {"sha256", r->sha256}, {"size", r->size}};
    return api::HttpResponse::Json(201, j.dump() + "\n");
  };
  router.Add(
      "POST", "/api/v1/sample/{kind}",
      [=, &ctx](const api::HttpRequest& req, const api::PathParams& p) {
        auto ticket = ctx.role->BeginWrite();  // counted in flight until answered
        if (!ticket.ok()) return api::WriteRefused(ticket.status());
        db::Connection* c = conn();
        if (c == nullptr)
          return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
        std::optional<int64_t> project;
        if (std::string q = req.QueryParam("project_id"); !q.empty()) {
          int64_t id;
          if (!absl::SimpleAtoi(q, &id) || id <= 0) {
            return api::HttpResponse::Error(400, "BAD_REQUEST",
                                            "project_id must be a project's id");
          }
          project = id;
        }
        if (auto refused = RefuseWrite(ctx, req, *c, project)) return *refused;
        return answer(CreateBlob(*c, *ctx.blobs, p.at("kind"), req.Body(), project));
      },
      api::kUploadBodyLimit);
  router.Add(
      "PUT", "/api/v1/sample/{kind}/{id}",
      [=, &ctx](const api::HttpRequest& req, const api::PathParams& p) {
        auto ticket = ctx.role->BeginWrite();  // counted in flight until answered
        if (!ticket.ok()) return api::WriteRefused(ticket.status());
        int64_t id;
        if (!absl::SimpleAtoi(p.at("id"), &id))
          return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
        db::Connection* c = conn();
        if (c == nullptr)
          return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
        if (auto refused = RefuseWrite(ctx, req, *c, BlobProject(*c, p.at("kind"), id)))
          return *refused;
        auto r = answer(ReplaceBlob(*c, *ctx.blobs, p.at("kind"), id, req.Body()));
        if (r.status == 201) r.status = 200;
        return r;
      },
      api::kUploadBodyLimit);
  router.Add("DELETE", "/api/v1/sample/{kind}/{id}",
             [=, &ctx](const api::HttpRequest& req, const api::PathParams& p) {
               auto ticket = ctx.role->BeginWrite();  // counted in flight until answered
               if (!ticket.ok()) return api::WriteRefused(ticket.status());
               int64_t id;
               if (!absl::SimpleAtoi(p.at("id"), &id))
                 return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
               db::Connection* c = conn();
               if (c == nullptr)
                 return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
               if (auto refused = RefuseWrite(ctx, req, *c, BlobProject(*c, p.at("kind"), id)))
                 return *refused;
               absl::Status s = DeleteBlob(*c, *ctx.blobs, p.at("kind"), id);
               if (!s.ok()) return api::HttpResponse::FromStatus(s);
               return api::HttpResponse::Json(200, "{\"deleted\":true}\n");
             });
}

}  // namespace georep::sample
