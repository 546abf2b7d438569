#include "cli/cli.h"

#include "CLI/CLI.hpp"
#include "cli/verbs.h"

namespace georep::cli {

int Main(int argc, char** argv) {
  CLI::App app{
      "Georep: multi-site replication and disaster recovery for a PostgreSQL database, "
      "Git repositories and files.\nOne primary site, any number of secondary sites.",
      "georep"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every verb");
  VerbContext ctx;
  AddServeVerbs(app, ctx);
  AddDbVerbs(app, ctx);
  AddSiteVerbs(app, ctx);
  AddOperatorVerbs(app, ctx);
  AddDemoVerbs(app, ctx);
  AddDisasterRecoveryVerbs(app, ctx);
  AddPromotionVerbs(app, ctx);
  AddFollowVerb(app, ctx);
  AddDemoteVerb(app, ctx);
  AddCheckVerb(app, ctx);
  app.add_subcommand("version", "Print the version")->callback([] { std::puts("georep 0.1.0"); });
  try {
    app.parse(argc, argv);  // runs the chosen verb's callback
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return ctx.exit_code;
}

}  // namespace georep::cli
