// `georep demo up`, `status` and `down`: the sites of a demo made, started,
// shown and stopped (the topology: cli/demo_topology.h).
#include "cli/demo.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/demo_topology.h"
#include "cluster/pg_cluster.h"
#include "config/config.h"
#include "db/connection.h"
#include "db/migrations.h"
#include "framework/storage/blob_store.h"
#include "sample/sample.h"
#include "site/sites.h"
#include "transport/http_client.h"
#include "transport/s3_client.h"
#include "util/fs.h"
#include "util/random.h"
#include "util/subprocess.h"
#include "util/tls_files.h"

namespace georep::cli {
namespace {
namespace fs = std::filesystem;

// The site's configuration keeps its blobs in its S3 server.
absl::Status UseDemoBucket(const DemoSite& s, config::Config& c) {
  c.storage_kind = "s3";
  c.s3_endpoint = s.S3Endpoint();
  c.s3_bucket = kDemoBucket;
  c.s3_prefix = "blobs/";
  c.s3_access_key = kDemoS3Key;
  c.s3_secret_key_file = s.Home() + "/s3-secret";
  return WriteFileAtomic(c.s3_secret_key_file, absl::StrCat(kDemoS3Key, "\n"), 0600);
}

absl::StatusOr<DemoSite> NewSite(const std::string& dir, const std::string& name, bool primary) {
  DemoSite s;
  s.name = name;
  s.role = primary ? "primary" : "secondary";
  std::string home = absl::StrCat(dir, "/", name);
  auto http = Port();
  if (!http.ok()) return http.status();
  s.http_port = *http;
  s.storage_root = home + "/storage";
  s.repository_root = home + "/repositories";
  s.config_path = home + "/georep.toml";
  s.log_path = home + "/georep.log";
  auto db_port = Port();
  if (!db_port.ok()) return db_port.status();
  s.clusters.push_back(
      {primary ? "main" : "standby", home + "/pgdata", *db_port, home + "/pglog/main.log"});
  if (!primary) {
    auto tr_port = Port();
    if (!tr_port.ok()) return tr_port.status();
    s.clusters.push_back(
        {"tracking", home + "/tracking-pgdata", *tr_port, home + "/pglog/tracking.log"});
  }
  return s;
}

absl::Status WaitForSiteRow(const std::string& conninfo, const std::string& name) {
  absl::Status last = absl::OkStatus();
  for (int i = 0; i < 200; ++i) {
    auto conn = db::Connection::Open(conninfo);
    if (conn.ok()) {
      auto site = site::FindSite(**conn, name);
      if (site.ok()) return absl::OkStatus();
      last = site.status();
    } else {
      last = conn.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("site row never reached the standby: ", last.message()));
}

// PostgreSQL runs as an unprivileged user, which must be able to reach DIR.
absl::Status CheckTraversable(const std::string& dir) {
  if (geteuid() != 0) return absl::OkStatus();
  for (fs::path p = fs::path(dir).parent_path(); !p.empty() && p != p.root_path();
       p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("PostgreSQL runs as user \"", kPostgresUser, "\", which cannot enter ",
                       p.string(), " (mode ", absl::StrFormat("%o", st.st_mode & 07777),
                       "); choose a --dir it can reach, e.g. under /tmp"));
    }
  }
  return absl::OkStatus();
}

// After a failover: start what is stopped, primary first; nothing is made.
absl::Status Restart(const DemoOptions& opt, Topology& t) {
  std::vector<DemoSite*> order;
  for (auto& s : t.sites) {
    if (s.role == "primary")
      order.insert(order.begin(), &s);
    else
      order.push_back(&s);
  }
  for (DemoSite* s : order) {
    for (const auto& c : s->clusters) {
      if (auto st =
              Step(opt.quiet, absl::StrCat(s->name, ": PostgreSQL ", c.role, " on port ", c.port),
                   c.Cluster().Start());
          !st.ok())
        return st;
    }
  }
  if (t.object_storage) {
    for (DemoSite* s : order) {
      if (auto st = StartS3(opt.quiet, *s); !st.ok()) return st;
    }
  }
  std::string exe = SelfExe();
  for (DemoSite* s : order) {
    if (DaemonRunning(*s)) continue;
    auto pid = SpawnDetached({exe, "serve", "--config", s->config_path}, s->log_path);
    if (!pid.ok()) return pid.status();
    s->pid = *pid;
    if (!opt.quiet)
      std::printf("  %s: georep serve (pid %d) on %s\n", s->name.c_str(), s->pid, s->Url().c_str());
  }
  if (auto st = SaveTopology(t); !st.ok()) return st;
  for (DemoSite* s : order) {
    if (auto st = WaitHealthy(*s); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// The primary: PostgreSQL, schema, its own site row. Returns a connection
// to its main database.
absl::StatusOr<std::unique_ptr<db::Connection>> UpPrimary(bool quiet, Topology& t) {
  if (t.Find("primary") == nullptr) {
    auto site = NewSite(t.dir, "primary", true);
    if (!site.ok()) return site.status();
    site->tls = t.tls;
    t.sites.insert(t.sites.begin(), *site);
    // Saved before anything starts, so a failed `up` can be retried or taken down.
    if (auto st = SaveTopology(t); !st.ok()) return st;
  }
  DemoSite& primary = *t.Find("primary");
  cluster::PgCluster main = primary.clusters[0].Cluster();
  primary.main_db = main.Conninfo(t.main_database);
  if (!main.Exists()) {
    if (auto s = Step(quiet, "primary: initdb", main.Init()); !s.ok()) return s;
  }
  if (auto s = Step(quiet, absl::StrCat("primary: PostgreSQL on port ", main.port()), main.Start());
      !s.ok())
    return s;
  if (auto s = main.CreateDatabase(t.main_database); !s.ok()) return s;
  auto main_conn = db::Connection::Open(primary.main_db);
  if (!main_conn.ok()) return main_conn.status();
  if (auto m = db::Migrate(**main_conn, db::DatabaseKind::kMain); !m.ok()) return m.status();
  if (auto st = sample::InstallSchema(**main_conn); !st.ok()) return st;
  if (auto found = site::FindSite(**main_conn, "primary"); !found.ok()) {
    auto added = site::AddSite(**main_conn, {"primary", primary.Url(), "", true});
    if (!added.ok()) return added.status();
  }
  if (auto s = SaveTopology(t); !s.ok()) return s;
  return main_conn;
}

// Secondaries: standby, tracking DB, site row with its secret.
absl::Status UpSecondaries(const DemoOptions& opt, Topology& t, db::Connection& main_conn) {
  bool quiet = opt.quiet;
  // The primary's PostgreSQL, which the standbys are copied from.
  const cluster::PgCluster main = t.Find("primary")->clusters[0].Cluster();
  for (int i = 1; i <= opt.secondaries; ++i) {
    std::string name = absl::StrCat("secondary-", i);
    if (t.Find(name) == nullptr) {
      auto site = NewSite(t.dir, name, false);
      if (!site.ok()) return site.status();
      site->tls = t.tls;
      t.sites.push_back(*site);
      if (auto st = SaveTopology(t); !st.ok()) return st;
    }
  }
  for (DemoSite& s : t.sites) {
    if (s.role != "secondary") continue;
    cluster::PgCluster standby = s.clusters[0].Cluster();
    cluster::PgCluster tracking = s.clusters[1].Cluster();
    s.main_db = standby.Conninfo(t.main_database);
    s.tracking_db = tracking.Conninfo(kTrackingDbName);
    std::string slot = "georep_" + s.name;
    for (char& c : slot) c = c == '-' ? '_' : c;
    if (!standby.Exists()) {
      if (auto st =
              Step(quiet, absl::StrCat(s.name, ": base backup of the primary (slot ", slot, ")"),
                   standby.InitStandby(main.port(), slot));
          !st.ok()) {
        return st;
      }
    }
    if (auto st = Step(quiet, absl::StrCat(s.name, ": standby on port ", standby.port()),
                       standby.Start());
        !st.ok()) {
      return st;
    }
    if (!tracking.Exists()) {
      if (auto st =
              Step(quiet, absl::StrCat(s.name, ": initdb tracking database"), tracking.Init());
          !st.ok())
        return st;
    }
    if (auto st = Step(quiet, absl::StrCat(s.name, ": tracking database on port ", tracking.port()),
                       tracking.Start());
        !st.ok()) {
      return st;
    }
    if (auto st = tracking.CreateDatabase(kTrackingDbName); !st.ok()) return st;
    auto tr_conn = db::Connection::Open(s.tracking_db);
    if (!tr_conn.ok()) return tr_conn.status();
    if (auto m = db::Migrate(**tr_conn, db::DatabaseKind::kTracking); !m.ok()) return m.status();
    if (auto found = site::FindSite(main_conn, s.name); !found.ok()) {
      auto added = site::AddSite(main_conn, {s.name, s.Url(), "", false});
      if (!added.ok()) return added.status();
    }
    if (auto st = SaveTopology(t); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Certificates: a CA of the demo's own, and one certificate per site.
absl::Status MakeCertificates(bool quiet, const Topology& t) {
  if (auto st = MakeDirs(t.TlsDir(), 0700); !st.ok()) return st;
  if (auto st = MakeCertificateAuthority(t.TlsDir()); !st.ok()) return st;
  for (const DemoSite& s : t.sites) {
    if (fs::exists(absl::StrCat(t.TlsDir(), "/", s.name, ".pem"))) continue;
    if (auto st = Step(quiet, absl::StrCat(s.name, ": TLS certificate"),
                       MakeSiteCertificate(t.TlsDir(), s.name, {"127.0.0.1", "localhost"}));
        !st.ok())
      return st;
  }
  return absl::OkStatus();
}

// With --object-storage, an S3 server per site.
absl::Status StartS3Servers(bool quiet, Topology& t) {
  for (DemoSite& s : t.sites) {
    if (auto st = StartS3(quiet, s); !st.ok()) return st;
  }
  if (auto st = SaveTopology(t); !st.ok()) return st;
  return absl::OkStatus();
}

// Configuration files.
absl::Status WriteConfigs(const Topology& t, db::Connection& main_conn) {
  for (const DemoSite& s : t.sites) {
    config::Config c;
    if (t.object_storage) {
      if (auto st = UseDemoBucket(s, c); !st.ok()) return st;
    }
    if (t.tls) {
      c.tls_cert = absl::StrCat(t.TlsDir(), "/", s.name, ".pem");
      c.tls_key = absl::StrCat(t.TlsDir(), "/", s.name, ".key");
      c.ca_file = t.CaFile();
    }
    c.site_name = s.name;
    c.main_database = s.main_db;
    c.tracking_database = s.tracking_db;
    c.http_listen = absl::StrCat("127.0.0.1:", s.http_port);
    c.storage_root = s.storage_root;
    c.repository_root = s.repository_root;
    c.sample_enabled = true;  // the demo's application is the sample forge
    // Its admin token, beside its configuration (the admin API's Bearer).
    c.admin_token_file = fs::path(s.config_path).parent_path() / "admin-token";
    if (!fs::exists(c.admin_token_file)) {
      if (auto st = WriteFileAtomic(c.admin_token_file, RandomHex(24) + "\n", 0600); !st.ok())
        return st;
    }
    if (s.role == "secondary") {
      auto row = site::FindSite(main_conn, s.name, /*with_secret=*/true);
      if (!row.ok()) return row.status();
      c.access_key = row->access_key;
      c.secret_access_key = row->secret_access_key;
    }
    for (const auto& dir : {s.storage_root, s.repository_root}) {
      if (auto st = MakeDirs(dir, 0755); !st.ok()) return st;
    }
    // An existing file is the operator's: kept as it is.
    if (fs::exists(s.config_path)) continue;
    if (auto st = WriteFileAtomic(s.config_path, config::RenderConfig(c), 0600); !st.ok())
      return st;
  }
  return absl::OkStatus();
}

// Daemons.
absl::Status StartDaemons(bool quiet, Topology& t) {
  std::string exe = SelfExe();
  for (DemoSite& s : t.sites) {
    if (DaemonRunning(s)) continue;
    if (s.role == "secondary") {
      if (auto st = WaitForSiteRow(s.main_db, s.name); !st.ok()) return st;
    }
    auto pid = SpawnDetached({exe, "serve", "--config", s.config_path}, s.log_path);
    if (!pid.ok()) return pid.status();
    s.pid = *pid;
    if (!quiet)
      std::printf("  %s: georep serve (pid %d) on %s\n", s.name.c_str(), s.pid, s.Url().c_str());
  }
  if (auto st = SaveTopology(t); !st.ok()) return st;
  for (const DemoSite& s : t.sites) {
    if (auto st = WaitHealthy(s); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Some data, so the secondaries have work to show.
absl::Status SeedSample(const DemoOptions& opt, Topology& t, db::Connection& main_conn) {
  bool quiet = opt.quiet;
  auto existing = main_conn.Exec("SELECT count(*) FROM sample.uploads");
  if (!existing.ok()) return existing.status();
  if (opt.seed > 0 && existing->GetInt64(0, 0) == 0) {
    const DemoSite& p = *t.Find("primary");
    std::shared_ptr<const framework::BlobStore> blobs =
        t.object_storage ? framework::Bucket(std::make_shared<transport::S3Client>(
                               transport::S3Location{.endpoint = p.S3Endpoint(),
                                                     .bucket = kDemoBucket,
                                                     .prefix = "blobs/",
                                                     .access_key = kDemoS3Key,
                                                     .secret_key = kDemoS3Key}))
                         : framework::LocalFiles(p.storage_root);
    auto seeded = sample::Seed(main_conn, *blobs, opt.seed, opt.seed_size);
    if (!seeded.ok()) return seeded.status();
    if (!quiet)
      std::printf("  primary: %lld sample blobs of %lld bytes created\n",
                  static_cast<long long>(*seeded), static_cast<long long>(opt.seed_size));
  }
  return absl::OkStatus();
}

absl::Status Up(const DemoOptions& opt, Topology& t) {
  bool quiet = opt.quiet;
  if (DemoSite* p = PrimaryOf(t); p != nullptr && p->name != "primary") {
    if (!quiet) {
      std::printf("  after a failover (\"%s\" is the primary): restarting what is stopped\n",
                  p->name.c_str());
    }
    return Restart(opt, t);
  }
  if (auto s = CheckTraversable(t.dir); !s.ok()) return s;
  if (auto s = MakeDirs(t.dir, 0755); !s.ok()) return s;

  auto main_conn = UpPrimary(quiet, t);
  if (!main_conn.ok()) return main_conn.status();
  if (auto st = UpSecondaries(opt, t, **main_conn); !st.ok()) return st;
  if (t.tls) {
    if (auto st = MakeCertificates(quiet, t); !st.ok()) return st;
  }
  if (t.object_storage) {
    if (auto st = StartS3Servers(quiet, t); !st.ok()) return st;
  }
  if (auto st = WriteConfigs(t, **main_conn); !st.ok()) return st;
  if (auto st = StartDaemons(quiet, t); !st.ok()) return st;
  return SeedSample(opt, t, **main_conn);
}

}  // namespace

int DemoUp(const DemoOptions& options) {
  Topology t;
  t.dir = AbsolutePath(options.dir);
  if (fs::exists(TopologyPath(t.dir))) {
    auto loaded = LoadTopology(t.dir);
    if (!loaded.ok()) {
      std::fprintf(stderr, "georep demo up: %s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    t = *loaded;
    if (options.tls && !t.tls) {
      std::fprintf(stderr,
                   "georep demo up: the demo in %s serves plain HTTP; --tls needs a new --dir\n",
                   t.dir.c_str());
      return 2;
    }
    if (options.object_storage && !t.object_storage) {
      std::fprintf(stderr,
                   "georep demo up: the demo in %s keeps its blobs in files; --object-storage "
                   "needs a new --dir\n",
                   t.dir.c_str());
      return 2;
    }
    if (!options.main_database.empty() && options.main_database != t.main_database) {
      std::fprintf(stderr,
                   "georep demo up: the demo in %s keeps its application in database \"%s\"; "
                   "--main-database %s needs a new --dir\n",
                   t.dir.c_str(), t.main_database.c_str(), options.main_database.c_str());
      return 2;
    }
  } else if (fs::exists(t.dir) && !fs::is_empty(t.dir)) {
    std::fprintf(stderr,
                 "georep demo up: %s exists and holds no topology.json; choose an empty --dir\n",
                 t.dir.c_str());
    return 2;
  }
  if (!fs::exists(TopologyPath(t.dir))) {
    t.tls = options.tls;
    t.object_storage = options.object_storage;
    if (!options.main_database.empty()) t.main_database = options.main_database;
  }
  if (t.tls) transport::SetTrustedCaFile(t.CaFile());
  if (!options.quiet) std::printf("georep demo in %s\n", t.dir.c_str());
  absl::Status s = Up(options, t);
  if (!s.ok()) {
    std::fprintf(stderr, "georep demo up: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (!options.quiet) {
    std::printf("\nRunning (topology: %s):\n", TopologyPath(t.dir).c_str());
    for (const auto& site : t.sites) {
      std::printf("  %-12s %-9s %s   config %s\n", site.name.c_str(), site.role.c_str(),
                  site.Url().c_str(), site.config_path.c_str());
    }
    std::printf("\nTry: georep status --config %s\n     georep demo down --dir %s\n",
                t.sites.back().config_path.c_str(), t.dir.c_str());
  }
  return 0;
}

int DemoStatus(const DemoOptions& options) {
  auto t = LoadTopology(AbsolutePath(options.dir));
  if (!t.ok()) {
    std::fprintf(stderr, "georep demo status: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  int code = 0;
  for (const auto& s : t->sites) {
    bool up = DaemonRunning(s);
    std::printf("%-12s %-9s %s  daemon %s\n", s.name.c_str(), s.role.c_str(), s.Url().c_str(),
                up ? absl::StrCat("running (pid ", s.pid, ")").c_str() : "STOPPED");
    for (const auto& c : s.clusters) {
      bool running = c.Cluster().IsRunning();
      std::printf("  postgres %-9s port %-6d %s\n", c.role.c_str(), c.port,
                  running ? "running" : "STOPPED");
      if (!running) code = 1;
    }
    if (t->object_storage) {
      bool running = S3Running(s);
      std::printf("  s3rver             port %-6d %s\n", s.s3_port,
                  running ? "running" : "STOPPED");
      if (!running) code = 1;
    }
    if (!up) code = 1;
  }
  return code;
}

int DemoDown(const DemoOptions& options, bool purge) {
  std::string dir = AbsolutePath(options.dir);
  auto t = LoadTopology(dir);
  if (!t.ok()) {
    std::fprintf(stderr, "georep demo down: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  int code = 0;
  for (const auto& s : t->sites) {
    if (DaemonRunning(s)) {
      if (auto st = TerminateProcess(s.pid, std::chrono::seconds(10)); !st.ok()) code = 1;
      std::printf("stopped georep serve of %s (pid %d)\n", s.name.c_str(), s.pid);
    }
  }
  for (const auto& s : t->sites) {
    if (S3Running(s)) {
      if (auto st = TerminateProcess(s.s3_pid, std::chrono::seconds(10)); !st.ok()) code = 1;
      std::printf("stopped the S3 server of %s (pid %d)\n", s.name.c_str(), s.s3_pid);
    }
  }
  // Secondaries first, so standbys do not spin reconnecting to a stopped primary.
  for (auto it = t->sites.rbegin(); it != t->sites.rend(); ++it) {
    for (const auto& c : it->clusters) {
      cluster::PgCluster pg = c.Cluster();
      if (!pg.IsRunning()) continue;
      if (auto st = pg.Stop(); !st.ok()) {
        std::fprintf(stderr, "georep demo down: %s\n", std::string(st.message()).c_str());
        code = 1;
      } else {
        std::printf("stopped PostgreSQL %s of %s (port %d)\n", c.role.c_str(), it->name.c_str(),
                    c.port);
      }
    }
  }
  if (purge && code == 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) {
      std::fprintf(stderr, "georep demo down: remove %s: %s\n", dir.c_str(), ec.message().c_str());
      return 1;
    }
    std::printf("removed %s\n", dir.c_str());
  }
  return code;
}

}  // namespace georep::cli
