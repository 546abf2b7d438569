// The demo's topology (DIR/topology.json: its sites, their clusters and
// processes) and what the demo's verbs share to start and check a site:
// its S3 server, its daemon, its health. Private to src/cli/ (demo*.cc).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"

namespace georep::cli {

inline constexpr char kTrackingDbName[] = "georep_tracking";

// One PostgreSQL cluster of a site.
struct DemoCluster {
  std::string role;  // main, standby, tracking
  std::string data_dir;
  int port = 0;
  std::string log;

  cluster::PgCluster Cluster() const { return cluster::PgCluster({data_dir, port, log}); }
};

// One site: its daemon, its clusters, its folders.
struct DemoSite {
  std::string name;
  std::string role;
  int http_port = 0;
  std::string main_db;
  std::string tracking_db;
  std::string storage_root;
  std::string repository_root;
  std::string config_path;
  std::string log_path;
  int pid = 0;
  std::vector<DemoCluster> clusters;
  bool tls = false;
  // With --object-storage: the site's own S3 server (s3rver), which holds
  // its blobs in bucket kDemoBucket.
  int s3_port = 0;
  int s3_pid = 0;

  std::string Home() const { return std::filesystem::path(config_path).parent_path().string(); }
  std::string S3Dir() const { return Home() + "/s3"; }
  std::string S3Endpoint() const { return absl::StrCat("http://127.0.0.1:", s3_port); }

  std::string Url() const {
    return absl::StrCat(tls ? "https" : "http", "://127.0.0.1:", http_port);
  }
};

// The demo: every site, and the choices made when it was made.
struct Topology {
  std::string dir;
  std::vector<DemoSite> sites;
  bool tls = false;             // every site serves HTTPS, with certificates from a CA in tls/
  bool object_storage = false;  // every site keeps its blobs in its own S3 server
  std::string main_database = "georep";  // the application's database, on every site

  std::string TlsDir() const { return dir + "/tls"; }
  std::string CaFile() const { return TlsDir() + "/ca.pem"; }

  DemoSite* Find(const std::string& name) {
    for (auto& s : sites) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
};

// DIR/topology.json, read (DataLoss when it is not a topology) and written.
std::string TopologyPath(const std::string& dir);
absl::StatusOr<Topology> LoadTopology(const std::string& dir);
absl::Status SaveTopology(const Topology& t);

// A free TCP port, for a daemon, a cluster or an S3 server.
absl::StatusOr<int> Port();

// A daemon pid from the topology that is still our `georep serve` for this config.
bool DaemonRunning(const DemoSite& s);

// A site's S3 server: s3rver, with the multipart calls it lacks, holding
// the site's blobs in one bucket.
inline constexpr char kDemoBucket[] = "georep";
inline constexpr char kDemoS3Key[] = "S3RVER";  // s3rver's one key pair

// Whether the site's S3 server from the topology still runs.
bool S3Running(const DemoSite& s);
// Starts the site's S3 server unless it runs, and waits until it answers.
absl::Status StartS3(bool quiet, DemoSite& s);

// `s` as it is, with `what` printed when it is OK (unless quiet) and put
// before its message when it is not.
absl::Status Step(bool quiet, const std::string& what, const absl::Status& s);

// Waits until the site's daemon serves (15 s at most).
absl::Status WaitHealthy(const DemoSite& s);

// This program's path, to run its verbs.
std::string SelfExe();

// The site whose role is primary; after `demo failover` it is not the one
// named "primary".
DemoSite* PrimaryOf(Topology& t);

}  // namespace georep::cli
