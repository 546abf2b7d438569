// site add|list|remove|enable|disable: the sites of geo_nodes, run against
// the primary's main database.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/verbs.h"
#include "framework/spec/spec.h"
#include "nlohmann/json.hpp"
#include "site/sites.h"

namespace georep::cli {
namespace {

struct SiteArgs {
  site::NewSite new_site;
  std::string name;
  bool json = false;
  // site update
  std::string selective_sync;
  std::vector<std::string> namespaces;
  std::vector<std::string> shards;
  std::optional<int> files_max_capacity;
  std::optional<int> repos_max_capacity;
  std::optional<int> verification_max_capacity;
  std::vector<std::string> disabled;  // --disabled-replicables; {"none"} clears
};

// The changes `site update` was given; InvalidArgument names a bad option.
absl::StatusOr<site::SiteChanges> UpdateChanges(const SiteArgs& a) {
  site::SiteChanges c;
  c.files_max_capacity = a.files_max_capacity;
  c.repos_max_capacity = a.repos_max_capacity;
  c.verification_max_capacity = a.verification_max_capacity;
  if (!a.selective_sync.empty()) {
    auto kind = site::ParseSelectiveSyncKind(a.selective_sync);
    if (!kind.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--selective-sync: ", kind.status().message()));
    c.selective_sync = SelectiveSync{*kind, a.namespaces, a.shards};
    if (auto s = site::ValidateSelectiveSync(*c.selective_sync); !s.ok()) return s;
  } else if (!a.namespaces.empty() || !a.shards.empty()) {
    return absl::InvalidArgumentError(
        "--namespaces and --shards need --selective-sync namespaces or --selective-sync shards");
  }
  if (!a.disabled.empty()) {
    c.disabled_replicables =
        a.disabled == std::vector<std::string>{"none"} ? std::vector<std::string>{} : a.disabled;
  }
  if (!c.selective_sync && !c.files_max_capacity && !c.repos_max_capacity &&
      !c.verification_max_capacity && !c.disabled_replicables) {
    return absl::InvalidArgumentError(
        "nothing to change: give --selective-sync, --disabled-replicables or a capacity");
  }
  return c;
}

std::string Describe(const SelectiveSync& s) {
  switch (s.kind) {
    case SelectiveSync::Kind::kNone:
      return "everything";
    case SelectiveSync::Kind::kNamespaces:
      return absl::StrCat("namespaces ", absl::StrJoin(s.namespaces, ","));
    case SelectiveSync::Kind::kShards:
      return absl::StrCat("shards ", absl::StrJoin(s.shards, ","));
  }
  return "";
}

// Runs `verb` on the main database of the configuration.
template <typename F>
void WithMain(VerbContext& ctx, const char* verb, F run) {
  auto config = LoadConfigOrFail(ctx);
  if (!config) return;
  auto conn = OpenMain(*config);
  if (!conn.ok()) {
    ctx.exit_code = Fail(1, verb, conn.status().message());
    return;
  }
  ctx.exit_code = run(**conn);
}

int List(db::Connection& conn, bool json) {
  auto sites = site::ListSites(conn);
  if (!sites.ok()) return Fail(1, "site list", sites.status().message());
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : *sites) {
      arr.push_back({{"id", s.id},
                     {"name", s.name},
                     {"url", s.url},
                     {"internal_url", s.InternalUrl()},
                     {"role", s.Role()},
                     {"enabled", s.enabled},
                     {"access_key", s.access_key},
                     {"selective_sync_type", SelectiveSyncKindName(s.selective_sync.kind)},
                     {"selective_sync_namespaces", s.selective_sync.namespaces},
                     {"selective_sync_shards", s.selective_sync.shards}});
    }
    std::puts(arr.dump(2).c_str());
    return 0;
  }
  std::printf("%-4s %-20s %-10s %-8s %-30s %s\n", "ID", "NAME", "ROLE", "ENABLED", "URL", "HOLDS");
  for (const auto& s : *sites) {
    std::printf("%-4lld %-20s %-10s %-8s %-30s %s\n", static_cast<long long>(s.id), s.name.c_str(),
                std::string(s.Role()).c_str(), s.enabled ? "yes" : "no", s.url.c_str(),
                s.primary ? "-" : Describe(s.selective_sync).c_str());
  }
  return 0;
}

// site add: prints the new site's key and secret once.
void AddSiteAdd(CLI::App* sitecmd, VerbContext& ctx, const std::shared_ptr<SiteArgs>& args) {
  CLI::App* add = sitecmd->add_subcommand(
      "add", "Register a site; prints its access key and secret once, for the site's config");
  add->add_option("name", args->new_site.name, "Site name (letters, digits, . _ -)")->required();
  add->add_option("--url", args->new_site.url, "Public URL of the site")->required();
  add->add_option("--internal-url", args->new_site.internal_url,
                  "URL other sites use to reach it (default: --url)");
  add->add_flag("--primary", args->new_site.primary, "This site is the primary (there is one)");
  AddConfig(add, ctx);
  add->callback([&ctx, args] {
    WithMain(ctx, "site add", [&](db::Connection& conn) {
      auto added = site::AddSite(conn, args->new_site);
      if (!added.ok()) return Fail(CodeFor(added.status()), "site add", added.status().message());
      std::printf(
          "site \"%s\" added (%s)\n"
          "Put these in the site's configuration; the secret is not shown again:\n"
          "[auth]\naccess_key = \"%s\"\nsecret_access_key = \"%s\"\n",
          added->name.c_str(), std::string(added->Role()).c_str(), added->access_key.c_str(),
          added->secret_access_key.c_str());
      return 0;
    });
  });
}

void AddSiteList(CLI::App* sitecmd, VerbContext& ctx, const std::shared_ptr<SiteArgs>& args) {
  CLI::App* list = sitecmd->add_subcommand("list", "List sites");
  list->add_flag("--json", args->json, "Print JSON");
  AddConfig(list, ctx);
  list->callback([&ctx, args] {
    WithMain(ctx, "site list", [&](db::Connection& conn) { return List(conn, args->json); });
  });
}

// site update: checks the changes, and the names of --disabled-replicables
// against this configuration's replicables, before it opens the database.
void AddSiteUpdate(CLI::App* sitecmd, VerbContext& ctx, const std::shared_ptr<SiteArgs>& args) {
  CLI::App* update = sitecmd->add_subcommand(
      "update",
      "Change a site: what a secondary holds (selective sync) and its concurrency limits");
  update->add_option("name", args->name, "Site name")->required();
  update
      ->add_option("--selective-sync", args->selective_sync,
                   "What the secondary holds: none (everything), namespaces (the items of "
                   "--namespaces and their subgroups) or shards (the items of projects on "
                   "--shards). Shrinking a selection removes the out-of-scope copies")
      ->check(CLI::IsMember({"none", "namespaces", "shards"}));
  update->add_option("--namespaces", args->namespaces, "Full paths, comma-separated: a,b/c")
      ->delimiter(',');
  update->add_option("--shards", args->shards, "Storage names, comma-separated: default,ssd")
      ->delimiter(',');
  update
      ->add_option("--disabled-replicables", args->disabled,
                   "Replicables the site does not replicate, comma-separated (replaces the "
                   "list; `none` clears it). Disabling removes the site's rows and copies of "
                   "them; enabling again brings them back")
      ->delimiter(',');
  update->add_option("--files-max-capacity", args->files_max_capacity,
                     "Blob downloads at once (1 to 1000)");
  update->add_option("--repos-max-capacity", args->repos_max_capacity,
                     "Repository syncs at once (1 to 1000)");
  update->add_option("--verification-max-capacity", args->verification_max_capacity,
                     "Verifications at once (1 to 1000)");
  AddConfig(update, ctx);
  update->callback([&ctx, args] {
    auto changes = UpdateChanges(*args);
    if (!changes.ok()) {
      ctx.exit_code = Fail(2, "site update", changes.status().message());
      return;
    }
    auto config = LoadConfigOrFail(ctx);
    if (!config) return;
    if (changes->disabled_replicables) {
      auto specs = framework::ResolveSpecs(config->replicables);
      if (!specs.ok()) {
        ctx.exit_code = Fail(2, "site update", specs.status().message());
        return;
      }
      for (const auto& n : *changes->disabled_replicables) {
        if (std::none_of(specs->begin(), specs->end(),
                         [&](const ReplicableSpec& s) { return s.name == n; })) {
          ctx.exit_code = Fail(2, "site update",
                               absl::StrCat("--disabled-replicables: no replicable \"", n, "\""));
          return;
        }
      }
    }
    WithMain(ctx, "site update", [&](db::Connection& conn) {
      auto updated = site::UpdateSite(conn, args->name, *changes);
      if (!updated.ok())
        return Fail(CodeFor(updated.status()), "site update", updated.status().message());
      std::printf(
          "site \"%s\" updated; it holds %s%s\n", updated->name.c_str(),
          updated->primary ? "everything (it is the primary)"
                           : Describe(updated->selective_sync).c_str(),
          updated->disabled_replicables.empty()
              ? ""
              : absl::StrCat(", except ", absl::StrJoin(updated->disabled_replicables, ", "))
                    .c_str());
      return 0;
    });
  });
}

// site remove, enable and disable: one call each on the named site.
void AddSiteChanges(CLI::App* sitecmd, VerbContext& ctx, const std::shared_ptr<SiteArgs>& args) {
  struct Change {
    const char* name;
    const char* help;
    const char* verb;
    absl::Status (*run)(db::Connection&, const std::string&);
  };
  for (const Change& c : {
           Change{"remove", "Remove a site", "site remove",
                  [](db::Connection&conn, const std::string&name) {
                    return site::RemoveSite(conn, name);
                  }},
           Change{"enable", "Enable a site", "site enable",
                  [](db::Connection&conn, const std::string&name) {
                    return site::SetSiteEnabled(conn, name, true);
                  }},
           Change{"disable", "Disable a site (its requests to the primary are refused)",
                  "site disable",
                  [](db::Connection&conn, const std::string&name) {
                    return site::SetSiteEnabled(conn, name, false);
                  }},
       }) {
    CLI::App* sub = sitecmd->add_subcommand(c.name, c.help);
    sub->add_option("name", args->name, "Site name")->required();
    AddConfig(sub, ctx);
    sub->callback([&ctx, args, c] {
      WithMain(ctx, c.verb, [&](db::Connection& conn) {
        absl::Status s = c.run(conn, args->name);
        if (!s.ok()) return Fail(CodeFor(s), c.verb, s.message());
        std::printf("%s: done\n", c.verb);
        return 0;
      });
    });
  }
}

}  // namespace

void AddSiteVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* sitecmd =
      app.add_subcommand("site", "Manage sites (run against the primary's main DB)");
  sitecmd->require_subcommand(1);
  auto args = std::make_shared<SiteArgs>();
  AddSiteAdd(sitecmd, ctx, args);
  AddSiteList(sitecmd, ctx, args);
  AddSiteUpdate(sitecmd, ctx, args);
  AddSiteChanges(sitecmd, ctx, args);
}

}  // namespace georep::cli
