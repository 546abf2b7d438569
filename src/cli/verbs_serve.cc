// serve: the site daemon; git-shell: Git over SSH.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/git_shell.h"
#include "cli/verbs.h"
#include "daemon/serve.h"
#include "sample/sample.h"
#include "util/logging.h"

namespace georep::cli {

void AddServeVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* serve =
      app.add_subcommand("serve", "Run this site's daemon (HTTP API, metrics, workers)");
  AddConfig(serve, ctx);
  serve->footer(absl::StrCat("Settings (TOML key, environment override, meaning):\n",
                             config::DescribeSettings()));
  serve->callback([&ctx] {
    auto config = LoadConfigOrFail(ctx);
    if (!config) return;
    daemon::ServeHooks hooks;
    if (config->sample_enabled) {
      // The sample forge is the demo's application: its routes, on request.
      hooks.add_routes = [&config, routes = std::make_shared<sample::RouteContext>()](
                             api::Router& router, const site::LiveRole* role,
                             std::shared_ptr<const framework::BlobStore> blobs) {
        // The daemon refuses to start on a bad token file; here it is read again.
        auto admin = api::LoadAdminAuth(config->admin_token_file, config->admin_reads);
        *routes = {config->main_database, std::move(blobs), config->repository_root, role,
                   admin.ok() ? *admin : api::AdminAuth{}};
        sample::AddRoutes(router, *routes);
      };
      // Git over HTTP: the forge's access tokens and public projects, read
      // from this site's main database (a replica on a secondary).
      hooks.git_access = [conninfo = config->main_database](const api::HttpRequest& req,
                                                            const std::string& repo,
                                                            bool push) -> absl::Status {
        db::Connection* main = db::ThreadConnection(conninfo);
        if (main == nullptr) return absl::UnavailableError("main database unreachable");
        return sample::CheckGitAccess(*main, req.Header("authorization"), repo, push);
      };
      // Git LFS: the forge's lfs_object rows, under the same access rule.
      hooks.lfs = sample::LfsObjects();
    }
    ctx.exit_code = daemon::Serve(*config, hooks);
  });

  CLI::App* config = app.add_subcommand("config", "The settings of a site's configuration");
  config->require_subcommand(1);
  config
      ->add_subcommand("reference",
                       "Print every setting (TOML key, environment variable, type, default, "
                       "meaning) as Markdown, as docs/configuration.md has them")
      ->callback([] { std::fputs(config::SettingsReference().c_str(), stdout); });

  CLI::App* git_shell = app.add_subcommand(
      "git-shell",
      "Git over SSH: the forced command for authorized_keys (command=\"georep git-shell "
      "--config …\") or sshd's ForceCommand. Serves git-upload-pack from this site and, on a "
      "secondary, sends git-receive-pack on to the primary. Reads SSH_ORIGINAL_COMMAND.");
  AddConfig(git_shell, ctx);
  git_shell->callback([&ctx] {
    auto config = LoadConfigOrFail(ctx);
    if (!config) return;
    log::SetLevel(log::Level::kWarn);
    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    ctx.exit_code = GitShell(*config, original == nullptr ? "" : original);
  });
}

}  // namespace georep::cli
