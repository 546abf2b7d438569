// site add|list|remove|enable|disable: the sites of geo_nodes, run against
// the primary's main database.
#include <cstdio>
#include <memory>

#include "cli/verbs.h"
#include "nlohmann/json.hpp"
#include "site/sites.h"

namespace georep::cli {
namespace {

struct SiteArgs {
  site::NewSite new_site;
  std::string name;
  bool json = false;
};

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
                     {"access_key", s.access_key}});
    }
    std::puts(arr.dump(2).c_str());
    return 0;
  }
  std::printf("%-4s %-20s %-10s %-8s %s\n", "ID", "NAME", "ROLE", "ENABLED", "URL");
  for (const auto& s : *sites) {
    std::printf("%-4lld %-20s %-10s %-8s %s\n", static_cast<long long>(s.id), s.name.c_str(),
                std::string(s.Role()).c_str(), s.enabled ? "yes" : "no", s.url.c_str());
  }
  return 0;
}

}  // namespace

void AddSiteVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* sitecmd =
      app.add_subcommand("site", "Manage sites (run against the primary's main DB)");
  sitecmd->require_subcommand(1);
  auto args = std::make_shared<SiteArgs>();

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

  CLI::App* list = sitecmd->add_subcommand("list", "List sites");
  list->add_flag("--json", args->json, "Print JSON");
  AddConfig(list, ctx);
  list->callback([&ctx, args] {
    WithMain(ctx, "site list", [&](db::Connection& conn) { return List(conn, args->json); });
  });

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

}  // namespace georep::cli
