// `georep demo`: a primary and N secondaries on this machine, on loopback.
//
// Layout of DIR: topology.json (every site: name, role, URL, databases,
// storage roots, config path, daemon pid), and one folder per site holding
// its PostgreSQL data folders, logs, storage roots and georep.toml.
#pragma once

#include <cstdint>
#include <string>

namespace georep::cli {

struct DemoOptions {
  std::string dir = "./var/demo";
  int secondaries = 1;
  int seed = 500;            // sample blobs created on a fresh primary
  int64_t seed_size = 4096;  // bytes each
  bool quiet = false;
  // Every site serves HTTPS with a certificate from a CA made in DIR/tls
  // (openssl), and trusts only that CA. Chosen when the demo is made.
  bool tls = false;
  // Every site keeps its blobs in a bucket of its own S3 server (s3rver from
  // npm, started and stopped with the demo). Chosen when the demo is made.
  bool object_storage = false;
  // The primary's main database (the application's), made by `demo up` in
  // its cluster; the sample forge's schema goes into it. Chosen when the
  // demo is made ("georep" when empty); empty for an existing demo.
  std::string main_database;
};

int DemoUp(const DemoOptions& options);
int DemoStatus(const DemoOptions& options);
int DemoDown(const DemoOptions& options, bool purge);
// The planned failover to secondary `to`: promote, follow for the other
// secondaries, and the old primary stopped, given a tracking database,
// demoted and restarted as a secondary. Prints each verb and its output.
int DemoFailover(const DemoOptions& options, const std::string& to);

}  // namespace georep::cli
