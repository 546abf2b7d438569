// What the verb groups of the `georep` command line share: the --config
// option, loading the configuration, failing with one line and an exit
// code. Each group (verbs_*.cc) adds its verbs to the app with a callback
// that runs the verb and sets the exit code.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"
#include "db/connection.h"
#include "failover/peers.h"
#include "site/sites.h"

namespace georep::cli {

// The configuration a verb reads without --config: $GEOREP_CONFIG; else
// ./georep.toml when there is one (a build tree, a checkout); else the
// installed /etc/georep/georep.toml.
std::string DefaultConfigPath();

struct VerbContext {
  std::string config_path = DefaultConfigPath();
  int exit_code = 0;
};

// Prints "georep VERB: MESSAGE" on stderr; returns `code`.
int Fail(int code, absl::string_view verb, absl::string_view message);
// Exit code for a status: bad input 2, everything else 1.
int CodeFor(const absl::Status& s);
// Adds -c/--config to a verb.
void AddConfig(CLI::App* verb, VerbContext& ctx);
// The configuration at ctx.config_path; on error prints it and sets exit 2.
std::unique_ptr<config::Config> LoadConfigOrFail(VerbContext& ctx);
// The main database of `config`, with the setting named in the error.
absl::StatusOr<std::unique_ptr<db::Connection>> OpenMain(const config::Config& config);

// A secondary's standby and tracking database (failover/peers.h); a verb
// run with the primary's configuration is refused (exit 2), an unreachable
// database is exit 1. Returns 0 when both are open.
using failover::SecondaryDatabases;
int OpenSecondary(const config::Config& config, const char* verb, SecondaryDatabases* out);

void AddServeVerbs(CLI::App& app, VerbContext& ctx);     // serve, git-shell
void AddDbVerbs(CLI::App& app, VerbContext& ctx);        // db migrate
void AddSiteVerbs(CLI::App& app, VerbContext& ctx);      // site add|list|remove|enable|disable
void AddOperatorVerbs(CLI::App& app, VerbContext& ctx);  // status, resync, reverify
void AddDemoVerbs(CLI::App& app, VerbContext& ctx);      // demo up|status|down, sample seed
void AddDisasterRecoveryVerbs(CLI::App& app, VerbContext& ctx);  // dataloss, replication
void AddPromotionVerbs(CLI::App& app, VerbContext& ctx);         // promote, maintenance
void AddFollowVerb(CLI::App& app, VerbContext& ctx);             // follow
void AddDemoteVerb(CLI::App& app, VerbContext& ctx);             // demote
void AddSalvageVerb(CLI::App& app, VerbContext& ctx);            // salvage
void AddCheckVerb(CLI::App& app, VerbContext& ctx);              // check

}  // namespace georep::cli
