// `georep demo`: a primary and N secondaries on this machine, on loopback.
//
// Layout of DIR: topology.json (every site: name, role, URL, databases,
// storage roots, config path, daemon pid), and one folder per site holding
// its PostgreSQL data folders, logs, storage roots and georep.toml.
#pragma once

#include <string>

namespace georep::cli {

struct DemoOptions {
  std::string dir = "./var/demo";
  int secondaries = 1;
  bool quiet = false;
};

int DemoUp(const DemoOptions& options);
int DemoStatus(const DemoOptions& options);
int DemoDown(const DemoOptions& options, bool purge);

}  // namespace georep::cli
