// The demo's topology and its sites' processes (cli/demo_topology.h).
#include "cli/demo_topology.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/subprocess.h"

namespace georep::cli {
namespace {
namespace fs = std::filesystem;

nlohmann::json ToJson(const Topology& t) {
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& s : t.sites) {
    nlohmann::json clusters = nlohmann::json::array();
    for (const auto& c : s.clusters) {
      clusters.push_back(
          {{"role", c.role}, {"data_dir", c.data_dir}, {"port", c.port}, {"log", c.log}});
    }
    sites.push_back(
        {{"name", s.name},
         {"role", s.role},
         {"url", s.Url()},
         {"http_port", s.http_port},
         {"main_db", s.main_db},
         {"tracking_db", s.tracking_db.empty() ? nlohmann::json() : nlohmann::json(s.tracking_db)},
         {"storage_root", s.storage_root},
         {"repository_root", s.repository_root},
         {"config", s.config_path},
         {"log", s.log_path},
         {"pid", s.pid},
         {"s3_endpoint", s.s3_port > 0 ? nlohmann::json(s.S3Endpoint()) : nlohmann::json()},
         {"s3_port", s.s3_port},
         {"s3_pid", s.s3_pid},
         {"clusters", clusters}});
  }
  return {{"dir", t.dir},
          {"tls", t.tls},
          {"object_storage", t.object_storage},
          {"main_database", t.main_database},
          {"ca_file", t.tls ? nlohmann::json(t.CaFile()) : nlohmann::json()},
          {"sites", sites}};
}

// The S3 server: tests/s3/server.js of the source tree, or the script
// GEOREP_S3_SERVER names.
std::string S3ServerScript() {
  const char* named = std::getenv("GEOREP_S3_SERVER");
  return named != nullptr && *named != '\0' ? named : GEOREP_DEMO_S3_SERVER;
}

}  // namespace

std::string TopologyPath(const std::string& dir) { return dir + "/topology.json"; }

absl::StatusOr<Topology> LoadTopology(const std::string& dir) {
  auto text = ReadFile(TopologyPath(dir));
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("sites")) {
    return absl::DataLossError(absl::StrCat(TopologyPath(dir), ": not a Georep demo topology"));
  }
  Topology t;
  t.dir = dir;
  t.tls = j.value("tls", false);
  t.object_storage = j.value("object_storage", false);
  t.main_database = j.value("main_database", std::string("georep"));
  // The demo's own requests to its sites trust the demo's CA.
  if (t.tls) transport::SetTrustedCaFile(t.CaFile());
  try {
    for (const auto& s : j["sites"]) {
      DemoSite site;
      site.tls = t.tls;
      site.name = s.at("name");
      site.role = s.at("role");
      site.http_port = s.at("http_port");
      site.main_db = s.at("main_db");
      if (!s.at("tracking_db").is_null()) site.tracking_db = s["tracking_db"];
      site.storage_root = s.at("storage_root");
      site.repository_root = s.at("repository_root");
      site.config_path = s.at("config");
      site.log_path = s.at("log");
      site.pid = s.at("pid");
      site.s3_port = s.value("s3_port", 0);
      site.s3_pid = s.value("s3_pid", 0);
      for (const auto& c : s.at("clusters")) {
        site.clusters.push_back({c.at("role"), c.at("data_dir"), c.at("port"), c.at("log")});
      }
      t.sites.push_back(std::move(site));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(TopologyPath(dir), ": ", e.what()));
  }
  return t;
}

absl::Status SaveTopology(const Topology& t) {
  return WriteFileAtomic(TopologyPath(t.dir), ToJson(t).dump(2) + "\n");
}

absl::StatusOr<int> Port() { return FreeTcpPort(); }

bool DaemonRunning(const DemoSite& s) {
  if (s.pid <= 0 || !ProcessAlive(s.pid)) return false;
  std::string cmd = ProcessCommandLine(s.pid);
  return absl::StrContains(cmd, " serve") && absl::StrContains(cmd, s.config_path);
}

bool S3Running(const DemoSite& s) {
  if (s.s3_pid <= 0 || !ProcessAlive(s.s3_pid)) return false;
  return absl::StrContains(ProcessCommandLine(s.s3_pid), s.S3Dir());
}

absl::Status StartS3(bool quiet, DemoSite& s) {
  if (S3Running(s)) return absl::OkStatus();
  const std::string script = S3ServerScript();
  if (!fs::exists(script) || !fs::exists(fs::path(script).parent_path() / "node_modules/s3rver")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--object-storage runs s3rver (npm) through ", script,
        ", which is not installed: scripts/install-deps installs it (npm ci in tests/s3); "
        "GEOREP_S3_SERVER names another script"));
  }
  if (s.s3_port == 0) {
    auto port = Port();
    if (!port.ok()) return port.status();
    s.s3_port = *port;
  }
  auto pid = SpawnDetached({"node", script, s.S3Dir(), absl::StrCat(s.s3_port), kDemoBucket},
                           s.Home() + "/s3.log");
  if (!pid.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start node (Debian's nodejs) for s3rver: ", pid.status().message()));
  }
  s.s3_pid = *pid;
  for (int i = 0; i < 600; ++i) {
    auto r = transport::HttpRequest(s.S3Endpoint() + "/", {.timeout_seconds = 2});
    if (r.ok() && r->status > 0) {
      if (!quiet) {
        std::printf("  %s: S3 server (s3rver, pid %d) on %s, bucket \"%s\"\n", s.name.c_str(),
                    s.s3_pid, s.S3Endpoint().c_str(), kDemoBucket);
      }
      return absl::OkStatus();
    }
    if (!ProcessAlive(s.s3_pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto log = ReadFile(s.Home() + "/s3.log");
  return absl::UnavailableError(absl::StrCat("the S3 server of site \"", s.name,
                                             "\" did not answer on ", s.S3Endpoint(), ": ",
                                             log.ok() ? *log : ""));
}

absl::Status Step(bool quiet, const std::string& what, const absl::Status& s) {
  if (!quiet && s.ok()) std::printf("  %s\n", what.c_str());
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  return s;
}

absl::Status WaitHealthy(const DemoSite& s) {
  for (int i = 0; i < 300; ++i) {
    // Serving is enough: a secondary whose primary is down answers 503.
    auto r = transport::HttpRequest(s.Url() + "/api/v1/health", {.timeout_seconds = 2});
    if (r.ok() && (r->status == 200 || r->status == 503)) return absl::OkStatus();
    if (!ProcessAlive(s.pid)) {
      auto log = ReadFile(s.log_path);
      std::string tail = log.ok() ? log->substr(log->size() > 600 ? log->size() - 600 : 0) : "";
      return absl::UnavailableError(
          absl::StrCat("daemon of site \"", s.name, "\" exited; end of ", s.log_path, ":\n", tail));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("daemon of site \"", s.name, "\" not healthy after 15 s"));
}

std::string SelfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "georep" : p.string();
}

DemoSite* PrimaryOf(Topology& t) {
  for (auto& s : t.sites) {
    if (s.role == "primary") return &s;
  }
  return nullptr;
}

}  // namespace georep::cli
