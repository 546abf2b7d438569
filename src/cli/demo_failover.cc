// `georep demo failover`: the planned failover of a demo, run as the
// georep verbs an operator would type, each shown with its output.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/demo.h"
#include "cli/demo_topology.h"
#include "cluster/pg_cluster.h"
#include "config/config.h"
#include "util/fs.h"
#include "util/subprocess.h"

namespace georep::cli {
namespace {
namespace fs = std::filesystem;

// One georep verb of the failover, shown as a command and its output.
absl::Status RunVerb(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SelfExe()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::printf("\n$ georep %s\n", absl::StrJoin(args, " ").c_str());
  std::fflush(stdout);
  auto r = Run(argv);
  if (!r.ok()) return r.status();
  std::fputs(r->output.c_str(), stdout);
  if (r->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("`georep ", args[0], "` exited with status ", r->exit_code));
  }
  return absl::OkStatus();
}

absl::Status Failover(Topology& t, const std::string& to) {
  DemoSite* target = t.Find(to);
  if (target == nullptr) return absl::InvalidArgumentError(absl::StrCat("no site \"", to, "\""));
  if (target->role != "secondary") {
    return absl::InvalidArgumentError(absl::StrCat("site \"", to, "\" is not a secondary"));
  }
  DemoSite* old = PrimaryOf(t);
  if (old == nullptr) return absl::FailedPreconditionError("the topology names no primary");
  const std::string new_url = target->Url();
  const std::string new_port = absl::StrCat(target->clusters[0].port);

  // 1. Planned promotion (the others are detached from the old primary).
  if (auto s = RunVerb({"promote", "--config", target->config_path}); !s.ok()) return s;
  std::string old_name = old->name;
  target->role = "primary";
  target->clusters[0].role = "main";
  old->role = "secondary";
  if (auto s = SaveTopology(t); !s.ok()) return s;

  // 2. The other secondaries follow.
  for (DemoSite& s : t.sites) {
    if (s.role != "secondary" || s.name == old_name) continue;
    if (auto st = RunVerb({"follow", "--config", s.config_path, "--primary", new_url,
                           "--primary-port", new_port, "--user", kPostgresUser});
        !st.ok())
      return st;
  }

  // 3. The old primary rejoins: stopped, given a tracking database, demoted.
  old = t.Find(old_name);
  std::printf("\n%s: stopping its daemon and PostgreSQL\n", old_name.c_str());
  if (DaemonRunning(*old)) {
    if (auto s = TerminateProcess(old->pid, std::chrono::seconds(10)); !s.ok()) return s;
  }
  if (auto s = old->clusters[0].Cluster().Stop(); !s.ok()) return s;
  std::string home = fs::path(old->config_path).parent_path().string();
  if (old->clusters.size() < 2) {
    auto port = Port();
    if (!port.ok()) return port.status();
    old->clusters.push_back(
        {"tracking", home + "/tracking-pgdata", *port, home + "/pglog/tracking.log"});
    if (auto s = SaveTopology(t); !s.ok()) return s;
  }
  cluster::PgCluster tracking = old->clusters[1].Cluster();
  if (!tracking.Exists()) {
    if (auto s = Step(false, absl::StrCat(old_name, ": initdb tracking database"), tracking.Init());
        !s.ok())
      return s;
  }
  if (auto s = Step(false, absl::StrCat(old_name, ": tracking database on port ", tracking.port()),
                    tracking.Start());
      !s.ok())
    return s;
  if (auto s = tracking.CreateDatabase(kTrackingDbName); !s.ok()) return s;
  old->tracking_db = tracking.Conninfo(kTrackingDbName);
  auto config = config::LoadConfig(old->config_path);
  if (!config.ok()) return config.status();
  config->tracking_database = old->tracking_db;
  if (auto s = WriteFileAtomic(old->config_path, config::RenderConfig(*config), 0600); !s.ok())
    return s;
  if (auto s =
          RunVerb({"demote", "--config", old->config_path, "--primary", new_url, "--primary-port",
                   new_port, "--user", kPostgresUser, "--data-dir", old->clusters[0].data_dir});
      !s.ok())
    return s;
  old->clusters[0].role = "standby";
  if (auto s = Step(false, absl::StrCat(old_name, ": PostgreSQL started as a standby"),
                    old->clusters[0].Cluster().Start());
      !s.ok())
    return s;
  if (auto s = RunVerb({"site", "enable", old_name, "--config", target->config_path}); !s.ok())
    return s;
  auto pid = SpawnDetached({SelfExe(), "serve", "--config", old->config_path}, old->log_path);
  if (!pid.ok()) return pid.status();
  old->pid = *pid;
  if (auto s = SaveTopology(t); !s.ok()) return s;
  std::printf("  %s: georep serve (pid %d) as a secondary\n", old_name.c_str(), old->pid);
  return WaitHealthy(*old);
}

}  // namespace

int DemoFailover(const DemoOptions& options, const std::string& to) {
  auto t = LoadTopology(AbsolutePath(options.dir));
  if (!t.ok()) {
    std::fprintf(stderr, "georep demo failover: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  absl::Status s = Failover(*t, to);
  if (!s.ok()) {
    std::fprintf(stderr, "georep demo failover: %s\n", std::string(s.message()).c_str());
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  std::printf("\n\"%s\" is the primary; every other site is its secondary:\n", to.c_str());
  for (const auto& site : t->sites) {
    std::printf("  %-12s %-9s %s\n", site.name.c_str(), site.role.c_str(), site.Url().c_str());
  }
  return 0;
}

}  // namespace georep::cli
