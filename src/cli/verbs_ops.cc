// status: a site's replication status; resync / reverify: an operator's
// requests to sync or check items again.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "api/admin_auth.h"
#include "cli/verbs.h"
#include "fleet/status_view.h"
#include "framework/registry/primary_states.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/net.h"

namespace georep::cli {
namespace {

// The admin token of the site's configuration, as a request header; none
// when it names no token file (reads from this host need none).
absl::StatusOr<std::vector<std::string>> AdminHeaders(const config::Config& config) {
  auto auth = api::LoadAdminAuth(config.admin_token_file, config.admin_reads);
  if (!auth.ok()) return auth.status();
  if (auth->token.empty()) return std::vector<std::string>{};
  return std::vector<std::string>{"Authorization: Bearer " + auth->token};
}

int RunStatus(const std::string& config_path, std::string url, bool json, bool all) {
  const char* verb = "status";
  std::vector<std::string> headers;
  auto config = config::LoadConfig(config_path);
  if (url.empty()) {
    if (!config.ok()) return Fail(2, verb, config.status().message());
    auto hp = ParseHostPort(config->http_listen);
    if (!hp.ok()) return Fail(2, verb, hp.status().message());
    url = config::ListenUrl(*config);
  }
  if (config.ok()) {
    transport::SetTrustedCaFile(config->ca_file);
    auto h = AdminHeaders(*config);
    if (!h.ok()) return Fail(2, verb, h.status().message());
    headers = std::move(*h);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::string path = all ? "/api/v1/sites" : "/api/v1/status";
  auto res = transport::HttpRequest(url + path, {.headers = headers});
  if (!res.ok())
    return Fail(1, verb, absl::StrCat(res.status().message(), " (is `georep serve` running?)"));
  if (res->status != 200) {
    return Fail(1, verb, absl::StrCat(url, path, " answered HTTP ", res->status, ": ", res->body));
  }
  if (all) {
    bool healthy = false;
    std::string text = fleet::RenderSites(res->body, &healthy);
    std::fputs(json ? res->body.c_str() : text.c_str(), stdout);
    return healthy ? 0 : 1;
  }
  std::fputs(json ? res->body.c_str() : fleet::RenderStatus(res->body).c_str(), stdout);
  // The verdict: the daemon's health for the site's role (GET /api/v1/health).
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  bool healthy = j.is_object() && j.contains("health") && j["health"].is_object() &&
                 j["health"].value("healthy", false);
  return healthy ? 0 : 1;
}

const ReplicableSpec* FindSpec(const std::vector<ReplicableSpec>& specs, const std::string& name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// `georep failures NAME`: the failed rows of a secondary's registry with
// their reasons, read from its tracking database (the daemon may be down).
int RunFailures(const config::Config& config, const std::string& replicable, int limit, bool json) {
  const char* verb = "failures";
  if (config.tracking_database.empty()) {
    return Fail(
        2, verb,
        absl::StrCat("failures are a secondary's: ", config.path, " names no database.tracking"));
  }
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, verb, specs.status().message());
  const ReplicableSpec* spec = FindSpec(*specs, replicable);
  if (spec == nullptr)
    return Fail(2, verb, absl::StrCat("no replicable named \"", replicable, "\""));
  if (limit < 1 || limit > framework::kMaxRegistryPage) {
    return Fail(2, verb,
                absl::StrCat("--limit ", limit, " is not 1 to ", framework::kMaxRegistryPage));
  }
  auto conn = db::Connection::Open(config.tracking_database);
  if (!conn.ok()) return Fail(1, verb, conn.status().message());
  framework::RegistryFilter f{.state = static_cast<int>(framework::SyncState::kFailed),
                              .limit = limit};
  auto rows = framework::ListRegistry(**conn, *spec, f);
  if (!rows.ok()) return Fail(1, verb, rows.status().message());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : *rows) {
      out.push_back({{"id", r.model_id},
                     {"retry_count", r.retry_count},
                     {"retry_at", r.retry_at},
                     {"missing_on_primary", r.missing_on_primary},
                     {"last_sync_failure", r.last_sync_failure},
                     {"verification_failure", r.verification_failure}});
    }
    std::puts(out.dump(2).c_str());
    return 0;
  }
  if (rows->empty()) {
    std::printf("no failed %s items\n", spec->name.c_str());
    return 0;
  }
  std::printf("%-12s %7s  %-20s  %s\n", "id", "retries", "next retry", "reason");
  for (const auto& r : *rows) {
    std::string reason = r.last_sync_failure.empty() ? "-" : r.last_sync_failure;
    if (r.missing_on_primary) reason = "missing on the primary: " + reason;
    std::printf("%-12lld %7d  %-20s  %s\n", static_cast<long long>(r.model_id), r.retry_count,
                r.retry_at.empty() ? "-" : r.retry_at.c_str(), reason.c_str());
  }
  if (static_cast<int>(rows->size()) == limit) {
    std::printf("(the first %d; more with --limit, or GET /api/v1/replicables/%s/registry)\n",
                limit, spec->name.c_str());
  }
  return 0;
}

struct OperatorArgs {
  std::string replicable;
  int64_t id = 0;
  bool failed = false;
  bool all = false;
};

int RunResyncOrReverify(const config::Config& config, const OperatorArgs& args, bool resync) {
  const char* verb = resync ? "resync" : "reverify";
  if (args.id <= 0 && !args.failed && !args.all)
    return Fail(2, verb, "name an id, --failed or --all");
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, verb, specs.status().message());
  const ReplicableSpec* spec = FindSpec(*specs, args.replicable);
  if (spec == nullptr)
    return Fail(2, verb, absl::StrCat("no replicable named \"", args.replicable, "\""));
  framework::Selection sel{args.id, args.failed, args.all};
  bool secondary = !config.tracking_database.empty();
  if (!secondary && resync) {
    return Fail(2, verb, "resync runs on a secondary (its config names database.tracking)");
  }
  auto conn = db::Connection::Open(secondary ? config.tracking_database : config.main_database);
  if (!conn.ok()) return Fail(1, verb, conn.status().message());
  auto changed = resync      ? framework::Resync(**conn, *spec, sel)
                 : secondary ? framework::ReverifySecondary(**conn, *spec, sel)
                             : framework::ReverifyPrimary(**conn, *spec, sel);
  if (!changed.ok()) return Fail(1, verb, changed.status().message());
  std::printf("%s: %lld %s item(s) queued\n", verb, static_cast<long long>(*changed),
              spec->name.c_str());
  return 0;
}

}  // namespace

void AddOperatorVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* status = app.add_subcommand(
      "status",
      "Show a site's replication status; exit 1 when its daemon cannot be asked or the site is "
      "unhealthy for its role (the reasons of GET /api/v1/health are shown)");
  AddConfig(status, ctx);
  auto url = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  status->add_option("--url", *url, "Ask this site URL instead of the one in --config");
  status->add_flag("--json", *json, "Print the raw JSON of /api/v1/status (or /api/v1/sites)");
  status->add_flag("--all", *all,
                   "Every site, as the primary's reports show them (GET /api/v1/sites); exit 1 "
                   "when any is unhealthy");
  status->callback(
      [&ctx, url, json, all] { ctx.exit_code = RunStatus(ctx.config_path, *url, *json, *all); });

  auto failures_args = std::make_shared<std::pair<std::string, int>>("", 50);
  auto failures_json = std::make_shared<bool>(false);
  CLI::App* failures = app.add_subcommand(
      "failures", "Secondary: the failed items of a replicable with their reasons and next retry");
  failures->add_option("replicable", failures_args->first, "Replicable name, e.g. upload")
      ->required();
  failures->add_option("--limit", failures_args->second, "At most this many (default 50)");
  failures->add_flag("--json", *failures_json, "Print JSON");
  AddConfig(failures, ctx);
  failures->callback([&ctx, failures_args, failures_json] {
    auto config = LoadConfigOrFail(ctx);
    if (config) {
      ctx.exit_code =
          RunFailures(*config, failures_args->first, failures_args->second, *failures_json);
    }
  });

  auto args = std::make_shared<OperatorArgs>();
  CLI::App* resync = app.add_subcommand(
      "resync",
      "Secondary: download items again (one id, every failed one, or all of a replicable)");
  CLI::App* reverify = app.add_subcommand(
      "reverify",
      "Check checksums again: on a secondary re-read its copies, on the primary re-checksum");
  for (CLI::App* sub : {resync, reverify}) {
    sub->add_option("replicable", args->replicable, "Replicable name, e.g. upload")->required();
    auto* id = sub->add_option("id", args->id, "One item's id");
    auto* failed = sub->add_flag("--failed", args->failed, "Every failed item");
    auto* all = sub->add_flag("--all", args->all, "Every item");
    id->excludes(failed)->excludes(all);
    failed->excludes(all);
    AddConfig(sub, ctx);
    sub->callback([&ctx, args, is_resync = sub == resync] {
      auto config = LoadConfigOrFail(ctx);
      if (config) ctx.exit_code = RunResyncOrReverify(*config, *args, is_resync);
    });
  }
}

}  // namespace georep::cli
