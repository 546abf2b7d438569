#include "failover/salvage_routes.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "db/connection.h"
#include "events/publish.h"
#include "framework/registry/lost_in_failover.h"
#include "framework/registry/primary_states.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"
#include "nlohmann/json.hpp"
#include "util/logging.h"
#include "util/sha256.h"

namespace georep::failover {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::PathParams;

const ReplicableSpec* FindSpec(const SalvageRouteContext& ctx, const std::string& name) {
  for (const auto& spec : ctx.specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// One lost item as the primary has it now.
struct LostRow {
  bool recorded = false;
  bool row = false;  // the model row is still there
  std::string path;
  std::string app_checksum;  // "" when the application keeps none
  std::string reason;
};

absl::StatusOr<std::vector<std::pair<int64_t, LostRow>>> LostRows(db::Connection& main,
                                                                  const ReplicableSpec& spec,
                                                                  int64_t only_id = 0) {
  auto r =
      main.Exec(framework::SpecSql(
                    spec, absl::StrCat("SELECT l.model_id, m.$ID IS NOT NULL, coalesce(",
                                       framework::PathSql(spec, "m"), ", ''), coalesce(",
                                       framework::AppChecksumSql(spec, "m"),
                                       ", ''), l.reason FROM georep.lost_in_failover l "
                                       "LEFT JOIN $MODEL m ON m.$ID = l.model_id "
                                       "WHERE l.replicable = $1 AND ($2 = 0 OR l.model_id = $2) "
                                       "ORDER BY l.model_id")),
                {spec.name, absl::StrCat(only_id)});
  if (!r.ok()) return r.status();
  std::vector<std::pair<int64_t, LostRow>> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->GetInt64(i, 0),
                   {true, r->GetBool(i, 1), std::string(r->Get(i, 2)), std::string(r->Get(i, 3)),
                    std::string(r->Get(i, 4))}});
  }
  return out;
}

HttpResponse List(const SalvageRouteContext& ctx, db::Connection& main) {
  auto failovers = framework::ReadLostFailovers(main);
  if (!failovers.ok()) return HttpResponse::FromStatus(failovers.status());
  nlohmann::json f = nlohmann::json::array();
  for (const auto& one : *failovers) {
    f.push_back({{"old_primary", one.old_primary},
                 {"new_primary", one.new_primary},
                 {"failover_at", one.failover_at},
                 {"items", one.items},
                 {"total", one.total}});
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& spec : ctx.specs) {
    auto rows = LostRows(main, spec);
    if (!rows.ok()) return HttpResponse::FromStatus(rows.status());
    for (const auto& [id, row] : *rows) {
      items.push_back(
          {{"replicable", spec.name},
           {"id", id},
           {"strategy", StrategyName(spec.strategy)},
           {"path", row.path},
           {"app_checksum",
            row.app_checksum.empty() ? nlohmann::json() : nlohmann::json(row.app_checksum)},
           {"row", row.row},
           {"reason", row.reason}});
    }
  }
  return HttpResponse::Json(200, nlohmann::json{{"failovers", f}, {"items", items}}.dump() + "\n");
}

// The item a PUT or DELETE names, or the answer refusing it.
struct Named {
  const ReplicableSpec* spec = nullptr;
  int64_t id = 0;
  LostRow row;
};
absl::StatusOr<Named> Name(const SalvageRouteContext& ctx, db::Connection& main,
                           const PathParams& p, HttpResponse* refusal) {
  Named n;
  n.spec = FindSpec(ctx, p.at("replicable"));
  if (n.spec == nullptr || !absl::SimpleAtoi(p.at("id"), &n.id) || n.id <= 0) {
    *refusal = HttpResponse::Error(404, "NOT_FOUND", "no such replicable or id");
    return absl::NotFoundError("");
  }
  auto rows = LostRows(main, *n.spec, n.id);
  if (!rows.ok()) {
    *refusal = HttpResponse::FromStatus(rows.status());
    return rows.status();
  }
  if (rows->empty()) {
    *refusal = HttpResponse::Error(
        404, "NOT_LOST",
        absl::StrCat(n.spec->name, " ", n.id, " is not recorded lost in a failover"));
    return absl::NotFoundError("");
  }
  n.row = rows->front().second;
  return n;
}

HttpResponse Put(const SalvageRouteContext& ctx, db::Connection& main, const HttpRequest& req,
                 const PathParams& p) {
  HttpResponse refusal;
  auto n = Name(ctx, main, p, &refusal);
  if (!n.ok()) return refusal;
  const ReplicableSpec& spec = *n->spec;
  if (spec.strategy != Strategy::kBlob) {
    return HttpResponse::Error(409, "NOT_A_BLOB",
                               absl::StrCat(spec.name,
                                            " is not a blob: its items are not "
                                            "recovered by their bytes"));
  }
  if (!n->row.row || n->row.path.empty()) {
    return HttpResponse::Error(409, "ROW_GONE",
                               absl::StrCat(spec.name, " ", n->id,
                                            " has no row (or no path) here any more: drop the "
                                            "record with DELETE"));
  }
  const std::string sha = Sha256Hex(req.Body());
  if (!n->row.app_checksum.empty() && sha != n->row.app_checksum) {
    return HttpResponse::Error(
        422, "CHECKSUM_MISMATCH",
        absl::StrCat("the bytes' SHA-256 is ", sha, ", the application's digest of ", spec.name,
                     " ", n->id, " is ", n->row.app_checksum, ": nothing installed"));
  }
  auto location = ctx.blobs->Locate(n->row.path);
  if (!location.ok()) return HttpResponse::Error(403, "FORBIDDEN", location.status().message());
  auto present = ctx.blobs->Size(*location);
  if (!present.ok()) return HttpResponse::FromStatus(present.status());
  if (present->has_value()) {
    // The application wrote the item again since: kept unless it is the same.
    auto there = ctx.blobs->Checksum(*location);
    if (!there.ok()) return HttpResponse::FromStatus(there.status());
    if (*there != sha) {
      return HttpResponse::Error(
          409, "EXISTS",
          absl::StrCat(spec.name, " ", n->id, " has a different blob here now (SHA-256 ", *there,
                       "): not replaced; drop the record with DELETE if it is the right one"));
    }
  } else if (auto s = framework::PutBlob(*ctx.blobs, *location, req.Body()); !s.ok()) {
    return HttpResponse::FromStatus(s);
  }
  auto done = db::InTransaction(
      main,
      [&]() -> absl::Status {
        if (auto s = framework::ResetState(main, spec, n->id); !s.ok()) return s;
        if (auto e = events::PublishEvent(main, spec.name, n->id, framework::EventKind::kUpdated);
            !e.ok())
          return e.status();
        return framework::ForgetLost(main, spec.name, {n->id}).status();
      },
      db::TransactionMode::kReadWrite);
  if (!done.ok()) return HttpResponse::FromStatus(done);
  const char* checked = n->row.app_checksum.empty() ? "none" : "the application's digest";
  log::Warn(
      "item lost in failover recovered",
      {{"replicable", spec.name}, {"id", n->id}, {"sha256", sha}, {"checked_against", checked}});
  return HttpResponse::Json(
      200,
      nlohmann::json{{"installed", true}, {"sha256", sha}, {"checked_against", checked}}.dump() +
          "\n");
}

HttpResponse Drop(const SalvageRouteContext& ctx, db::Connection& main, const PathParams& p) {
  HttpResponse refusal;
  auto n = Name(ctx, main, p, &refusal);
  if (!n.ok()) return refusal;
  auto forgotten = framework::ForgetLost(main, n->spec->name, {n->id});
  if (!forgotten.ok()) return HttpResponse::FromStatus(forgotten.status());
  log::Warn("lost-in-failover record dropped without its bytes",
            {{"replicable", n->spec->name}, {"id", n->id}});
  return HttpResponse::Json(200, nlohmann::json{{"dropped", *forgotten}}.dump() + "\n");
}

// The checks every route makes first: the primary, the admin, a database.
template <typename F>
api::RouteHandler Guarded(const SalvageRouteContext& ctx, bool mutating, F handler) {
  return [&ctx, mutating, handler](const HttpRequest& req, const PathParams& p) {
    if (ctx.role == nullptr || !ctx.role->primary())
      return HttpResponse::Error(404, "NOT_FOUND", "not the primary");
    if (auto refused = api::CheckAdmin(ctx.admin, req, mutating)) return *refused;
    db::Connection* main = db::ThreadConnection(ctx.main_conninfo);
    if (main == nullptr)
      return HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
    return handler(*main, req, p);
  };
}

}  // namespace

void AddSalvageRoutes(api::Router& router, const SalvageRouteContext& ctx) {
  router.Add(
      "GET", "/api/v1/lost",
      Guarded(ctx, false, [&ctx](db::Connection& main, const HttpRequest&, const PathParams&) {
        return List(ctx, main);
      }));
  router.Add("PUT", "/api/v1/lost/{replicable}/{id}",
             Guarded(ctx, true,
                     [&ctx](db::Connection& main, const HttpRequest& req, const PathParams& p) {
                       return Put(ctx, main, req, p);
                     }),
             api::kUploadBodyLimit);
  router.Add(
      "DELETE", "/api/v1/lost/{replicable}/{id}",
      Guarded(ctx, true, [&ctx](db::Connection& main, const HttpRequest&, const PathParams& p) {
        return Drop(ctx, main, p);
      }));
}

}  // namespace georep::failover
