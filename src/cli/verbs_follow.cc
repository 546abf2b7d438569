// follow, demote and salvage: a site re-attached to a new primary after a
// promotion, and what a forced one lost brought back (failover/follow.h,
// failover/salvage.h do it; these verbs take the options and print).
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "api/admin_auth.h"
#include "cli/verbs.h"
#include "daemon/serve.h"
#include "failover/follow.h"
#include "failover/salvage.h"
#include "nlohmann/json.hpp"

namespace georep::cli {
namespace {

// Where a site re-attached to a new primary streams from.
struct UpstreamOptions {
  failover::UpstreamRequest request;
  bool json = false;
};

void AddUpstreamOptions(CLI::App* verb, UpstreamOptions& o) {
  failover::UpstreamRequest& r = o.request;
  verb->add_option("--primary", r.primary_url, "URL of the new primary's daemon")->required();
  verb->add_option("--primary-host", r.host,
                   "Its PostgreSQL host (default: the host of --primary)");
  verb->add_option("--primary-port", r.port, "Its PostgreSQL port")->capture_default_str();
  verb->add_option("--user", r.user,
                   "Its PostgreSQL role (default: the one used until now, else replicator)");
  verb->add_option("--slot", r.slot,
                   "Physical replication slot there, created if missing (default: the one used "
                   "until now, else the site name)");
  verb->add_option("--password-file", r.password_file,
                   "File whose first line is the password (default: the one used until now, "
                   "else PGPASSFILE or ~/.pgpass)");
  verb->add_flag("--json", o.json, "Print the outcome as JSON");
}

failover::UpstreamRequest WithProgress(const UpstreamOptions& o) {
  failover::UpstreamRequest r = o.request;
  if (!o.json)
    r.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  return r;
}

int RunFollow(const config::Config& config, const UpstreamOptions& o) {
  auto out = failover::Follow(config, WithProgress(o));
  if (!out.ok()) return Fail(CodeFor(out.status()), "follow", out.status().message());
  if (o.json) {
    nlohmann::json j = {
        {"site", config.site_name},
        {"primary", out->primary},
        {"streaming_from", out->streaming_from},
        {"slot", out->slot},
        {"timeline", out->timeline},
        {"fork_point", out->fork_point ? nlohmann::json(*out->fork_point) : nlohmann::json()},
        {"items_kept", out->items_kept}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf(
        "site \"%s\" follows \"%s\": its standby streams from %s on timeline %d, without a new "
        "base backup; the %lld items it holds synced are kept, not downloaded again. Its daemon "
        "fetches from the new primary within a second.\n",
        config.site_name.c_str(), out->primary.c_str(), out->streaming_from.c_str(), out->timeline,
        static_cast<long long>(out->items_kept));
  }
  return 0;
}

int RunDemote(const config::Config& config, const UpstreamOptions& o, const std::string& data_dir) {
  auto out = failover::Demote(config, WithProgress(o), data_dir);
  if (!out.ok()) return Fail(CodeFor(out.status()), "demote", out.status().message());
  if (o.json) {
    nlohmann::json j = {{"site", config.site_name}, {"primary", out->primary},
                        {"data_dir", data_dir},     {"rewound", out->rewound},
                        {"slot", out->slot},        {"tracking_migrated", out->tracking_migrated},
                        {"next", out->next}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf("site \"%s\" is a standby of \"%s\" now (%s)\nNext:\n", config.site_name.c_str(),
                out->primary.c_str(),
                out->rewound ? "rewound: what it wrote after the promotion is discarded"
                             : "it had not gone past the promotion: nothing to rewind");
    for (size_t i = 0; i < out->next.size(); ++i)
      std::printf("  %zu. %s\n", i + 1, out->next[i].c_str());
  }
  return 0;
}

struct SalvageOptions {
  std::string primary_url;
  std::string admin_token_file;  // the new primary's; default: this site's
  bool dry_run = false;
  bool json = false;
};

int RunSalvage(const config::Config& config, const SalvageOptions& o) {
  const char* verb = "salvage";
  auto auth = api::LoadAdminAuth(
      o.admin_token_file.empty() ? config.admin_token_file : o.admin_token_file, "token");
  if (!auth.ok()) return Fail(2, verb, auth.status().message());
  auto blobs = daemon::OpenSiteBlobStore(config);
  if (!blobs.ok()) return Fail(CodeFor(blobs.status()), verb, blobs.status().message());
  failover::SalvageRequest request{.primary_url = o.primary_url, .dry_run = o.dry_run};
  if (!auth->token.empty()) request.headers.push_back("Authorization: Bearer " + auth->token);
  if (!o.json) {
    request.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  }
  auto out = failover::Salvage(config, **blobs, request);
  if (!out.ok()) return Fail(CodeFor(out.status()), verb, out.status().message());
  if (o.json) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : out->items) {
      items.push_back({{"replicable", i.replicable},
                       {"id", i.id},
                       {"path", i.path},
                       {"recovered", i.recovered},
                       {"outcome", i.outcome}});
    }
    std::puts(nlohmann::json{{"site", config.site_name},
                             {"primary", out->primary},
                             {"dry_run", o.dry_run},
                             {"listed", out->listed},
                             {"found", out->found},
                             {"recovered", out->recovered},
                             {"items", items}}
                  .dump(2)
                  .c_str());
  } else if (o.dry_run) {
    std::printf(
        "%lld items recorded lost on \"%s\"; %lld of them are in this site's storage and "
        "would be sent\n",
        static_cast<long long>(out->listed), out->primary.c_str(),
        static_cast<long long>(out->found));
  } else {
    std::printf(
        "%lld items recorded lost on \"%s\"; %lld recovered from this site's storage "
        "(every secondary fetches them now), %lld not\n",
        static_cast<long long>(out->listed), out->primary.c_str(),
        static_cast<long long>(out->recovered),
        static_cast<long long>(out->listed - out->recovered));
  }
  // Exit 0 when nothing that could be sent failed to arrive.
  return o.dry_run || out->recovered == out->found ? 0 : 1;
}

}  // namespace

void AddFollowVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* follow = app.add_subcommand(
      "follow",
      "Secondary: follow a newly promoted primary. Its standby streams from the new primary's "
      "PostgreSQL (a slot made there, the new timeline crossed) without a new base backup when "
      "it received nothing of the old primary past the promotion point (a planned promotion "
      "sees to that); otherwise it says so and what to do. The registry is kept: nothing this "
      "site holds is downloaded again. Needs ALTER SYSTEM on the standby.");
  AddConfig(follow, ctx);
  auto o = std::make_shared<UpstreamOptions>();
  AddUpstreamOptions(follow, *o);
  follow
      ->add_option("--timeout", o->request.timeout_seconds,
                   "Seconds to wait for the standby to stream from the new primary (default 120)")
      ->check(CLI::PositiveNumber);
  follow->callback([&ctx, o] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunFollow(*config, *o);
  });
}

void AddDemoteVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* demote = app.add_subcommand(
      "demote",
      "Former primary: become a secondary of the new one. With its PostgreSQL stopped, "
      "pg_rewind brings its data folder onto the new primary's timeline (what it wrote after "
      "the promotion is discarded) and writes it as a standby streaming through a slot made "
      "there; its tracking database (\"database.tracking\", which must be set) is migrated. "
      "Then start PostgreSQL, enable the site on the new primary and restart the daemon: files "
      "and repositories it holds that match the new primary's checksums are adopted, not "
      "downloaded. The --user role needs a superuser or EXECUTE on pg_ls_dir, pg_stat_file and "
      "pg_read_binary_file; wal_log_hints or data checksums must have been on.");
  AddConfig(demote, ctx);
  auto o = std::make_shared<UpstreamOptions>();
  AddUpstreamOptions(demote, *o);
  auto data_dir = std::make_shared<std::string>();
  demote->add_option("--data-dir", *data_dir, "Its PostgreSQL data folder (stopped)")->required();
  demote->callback([&ctx, o, data_dir] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunDemote(*config, *o, *data_dir);
  });
}

void AddSalvageVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* salvage = app.add_subcommand(
      "salvage",
      "Former primary, after a forced promotion, before `georep demote`: the items the new "
      "primary recorded lost in the failover (their rows replicated, their bytes did not) are "
      "looked for in this site's storage; each blob found is sent to the new primary, which "
      "checks it against the application's digest when it keeps one, installs it and publishes "
      "it, so every secondary fetches it. Exit status 1 when a blob found here was not taken.");
  AddConfig(salvage, ctx);
  auto o = std::make_shared<SalvageOptions>();
  salvage->add_option("--primary", o->primary_url, "URL of the new primary's daemon")->required();
  salvage->add_option("--admin-token-file", o->admin_token_file,
                      "File holding the new primary's admin token (default: this site's "
                      "admin.token_file)");
  salvage->add_flag("--dry-run", o->dry_run, "List what would be sent; send nothing");
  salvage->add_flag("--json", o->json, "Print the outcome as JSON");
  salvage->callback([&ctx, o] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunSalvage(*config, *o);
  });
}

}  // namespace georep::cli
