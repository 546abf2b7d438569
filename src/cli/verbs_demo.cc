// demo up|status|down: a topology on this machine; sample seed: the sample
// application's data.
#include <cstdio>
#include <memory>

#include "cli/demo.h"
#include "cli/verbs.h"
#include "daemon/serve.h"
#include "framework/storage/blob_store.h"
#include "sample/sample.h"
#include "util/random.h"
#include "util/validate.h"

namespace georep::cli {
namespace {

struct SeedArgs {
  int64_t count = 1000;
  int64_t size = 4096;
  int64_t projects = 0;
};

int RunSeed(const config::Config& config, const SeedArgs& args) {
  auto conn = OpenMain(config);
  if (!conn.ok()) return Fail(1, "sample seed", conn.status().message());
  if (auto s = sample::InstallSchema(**conn); !s.ok()) return Fail(1, "sample seed", s.message());
  auto blobs = daemon::OpenSiteBlobStore(config);
  if (!blobs.ok()) return Fail(2, "sample seed", blobs.status().message());
  if (args.count > 0) {
    auto n = sample::Seed(**conn, **blobs, args.count, args.size);
    if (!n.ok()) return Fail(1, "sample seed", n.status().message());
    std::printf("created %lld sample blobs of %lld bytes in %s\n", static_cast<long long>(*n),
                static_cast<long long>(args.size), (*blobs)->where().c_str());
  }
  std::string group = "seed-" + RandomHex(3);
  if (auto s = sample::SeedProjects(**conn, config.repository_root, group, args.projects);
      !s.ok()) {
    return Fail(1, "sample seed", s.message());
  }
  if (args.projects > 0) {
    std::printf("created %lld sample projects %s/p0… under %s\n",
                static_cast<long long>(args.projects), group.c_str(),
                config.repository_root.c_str());
  }
  return 0;
}

}  // namespace

void AddDemoVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* demo =
      app.add_subcommand("demo", "A primary and secondaries on this machine, on loopback");
  demo->require_subcommand(1);
  auto options = std::make_shared<DemoOptions>();
  auto purge = std::make_shared<bool>(false);
  CLI::App* up = demo->add_subcommand(
      "up", "Create (or restart) the demo: PostgreSQL primary, standbys, tracking DBs, daemons");
  CLI::App* status = demo->add_subcommand("status", "Show what the demo runs");
  CLI::App* down = demo->add_subcommand("down", "Stop exactly what `demo up` started");
  CLI::App* failover = demo->add_subcommand(
      "failover",
      "A planned failover to a secondary, verb by verb: `promote` on it, `follow` on the other "
      "secondaries, and the old primary stopped, given a tracking database, `demote`d and "
      "restarted as a secondary");
  auto to = std::make_shared<std::string>();
  failover->add_option("--to", *to, "The secondary to promote")->required();
  for (CLI::App* sub : {up, status, down, failover}) {
    sub->add_option("--dir", options->dir, "Folder of the demo")->capture_default_str();
  }
  up->add_option("--secondaries", options->secondaries,
                 "Number of secondary sites (an existing demo keeps the ones it has)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  up->add_option("--seed", options->seed, "Sample blobs to create on a fresh primary")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str();
  up->add_flag("--tls", options->tls,
               "Serve HTTPS on every site: a CA and site certificates are made in DIR/tls with "
               "openssl, and each site trusts only that CA (chosen when the demo is made)");
  up->add_flag("--object-storage", options->object_storage,
               "Keep every site's blobs in a bucket of its own S3 server (s3rver from npm, "
               "installed by scripts/install-deps in tests/s3; GEOREP_S3_SERVER names another "
               "script), started and stopped with the demo (chosen when the demo is made)");
  up->add_option("--main-database", options->main_database,
                 "Name of the application's database in the primary's cluster (Georep's "
                 "database.main on every site; the sample forge's schema goes into it too; chosen "
                 "when the demo is made; default georep)")
      ->check([](const std::string& v) {
        return IsLowerIdentifier(v, 63)
                   ? std::string()
                   : "\"" + v + "\" is not a database name (lower case letters, digits, _)";
      });
  down->add_flag("--purge", *purge, "Also delete the folder and all its data");
  up->callback([&ctx, options] { ctx.exit_code = DemoUp(*options); });
  status->callback([&ctx, options] { ctx.exit_code = DemoStatus(*options); });
  down->callback([&ctx, options, purge] { ctx.exit_code = DemoDown(*options, *purge); });
  failover->callback([&ctx, options, to] { ctx.exit_code = DemoFailover(*options, *to); });

  CLI::App* samplecmd =
      app.add_subcommand("sample", "The sample application (a small forge) used by the demo");
  samplecmd->require_subcommand(1);
  CLI::App* seed = samplecmd->add_subcommand(
      "seed", "Create sample blobs on the primary (rows and files), spread over every sample type");
  auto args = std::make_shared<SeedArgs>();
  seed->add_option("--count", args->count, "How many blobs")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))
      ->capture_default_str();
  seed->add_option("--size", args->size, "Bytes per blob")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  seed->add_option("--projects", args->projects,
                   "Also create this many empty projects (a repository, a wiki and a "
                   "design repository each), named seed-<random>/p<n>")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}))
      ->capture_default_str();
  AddConfig(seed, ctx);
  seed->callback([&ctx, args] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunSeed(*config, *args);
  });
}

}  // namespace georep::cli
