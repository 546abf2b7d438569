// serve: the site daemon; git-shell: Git over SSH.
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
                             site::DescribeSettings()));
  serve->callback([&ctx] {
    auto config = LoadConfigOrFail(ctx);
    if (!config) return;
    daemon::ServeHooks hooks;
    if (config->sample_enabled) {
      // The sample forge is the demo's application: its routes, on request.
      hooks.add_routes = [&config, routes = std::make_shared<sample::RouteContext>()](
                             api::Router& router, const site::LiveRole* role) {
        *routes = {config->main_database, config->storage_root, config->repository_root, role};
        sample::AddRoutes(router, *routes);
      };
    }
    ctx.exit_code = daemon::Serve(*config, hooks);
  });

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
