#include "cli/cli.h"

#include "CLI/CLI.hpp"
#include "cli/verbs.h"
#include "georep_version.h"

namespace georep::cli {

std::string VersionText() {
  std::string commit = GEOREP_COMMIT;
  return commit.empty() ? std::string("georep ") + GEOREP_VERSION
                        : std::string("georep ") + GEOREP_VERSION + " (commit " + commit + ")";
}

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
  AddSalvageVerb(app, ctx);
  AddCheckVerb(app, ctx);
  app.set_version_flag("--version", VersionText(), "Print the version and exit");
  app.add_subcommand("version", "Print the version (as --version)")->callback([] {
    std::puts(VersionText().c_str());
  });
  app.footer(
      "Exit status: 0 success; 1 a failure at run time (a database, site or store that cannot "
      "be reached, an operation that failed, a verdict that is not OK); 2 a usage error or bad "
      "settings (the message names the option or setting).");
  // A first word that names no verb is a usage error, --help or not
  // (the help flag would otherwise print the general help and succeed).
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* verb : app.get_subcommands({})) known = known || verb->check_name(argv[1]);
    if (!known) {
      std::fprintf(stderr, "georep: no verb \"%s\"; `georep --help` lists them\n", argv[1]);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);  // runs the chosen verb's callback
  } catch (const CLI::ParseError& e) {
    // Help and --version print and succeed; any other parse error is a
    // usage error, printed with what to fix.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}

}  // namespace georep::cli
