// status: a site's replication status; resync / reverify: an operator's
// requests to sync or check items again.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/status_view.h"
#include "cli/verbs.h"
#include "framework/primary_states.h"
#include "framework/registry_store.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/net.h"

namespace georep::cli {
namespace {

int RunStatus(const std::string& config_path, std::string url, bool json) {
  if (url.empty()) {
    auto config = site::LoadConfig(config_path);
    if (!config.ok()) return Fail(2, "status", config.status().message());
    auto hp = ParseHostPort(config->http_listen);
    if (!hp.ok()) return Fail(2, "status", hp.status().message());
    std::string host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host;
    url = absl::StrCat("http://", host, ":", hp->port);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto res = transport::HttpRequest(url + "/api/v1/status");
  if (!res.ok())
    return Fail(1, "status", absl::StrCat(res.status().message(), " (is `georep serve` running?)"));
  if (res->status != 200) {
    return Fail(1, "status",
                absl::StrCat(url, "/api/v1/status answered HTTP ", res->status, ": ", res->body));
  }
  std::fputs(json ? res->body.c_str() : RenderStatus(res->body).c_str(), stdout);
  // The verdict: the daemon's health for the site's role (GET /api/v1/health).
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  bool healthy = j.is_object() && j.contains("health") && j["health"].is_object() &&
                 j["health"].value("healthy", false);
  return healthy ? 0 : 1;
}

struct OperatorArgs {
  std::string replicable;
  int64_t id = 0;
  bool failed = false;
  bool all = false;
};

int RunResyncOrReverify(const site::Config& config, const OperatorArgs& args, bool resync) {
  const char* verb = resync ? "resync" : "reverify";
  if (args.id <= 0 && !args.failed && !args.all)
    return Fail(2, verb, "name an id, --failed or --all");
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, verb, specs.status().message());
  const ReplicableSpec* spec = nullptr;
  for (const auto& s : *specs) {
    if (s.name == args.replicable) spec = &s;
  }
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
  status->add_option("--url", *url, "Ask this site URL instead of the one in --config");
  status->add_flag("--json", *json, "Print the raw JSON of /api/v1/status");
  status->callback([&ctx, url, json] { ctx.exit_code = RunStatus(ctx.config_path, *url, *json); });

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
