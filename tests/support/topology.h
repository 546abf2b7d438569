// A real topology for e2e tests, made by `georep demo up` in a temp folder
// and taken down (purged) by the destructor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "db/connection.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"

namespace georep::test {

class Topology {
 public:
  // `env` ("NAME=value") reaches the daemons too: GEOREP_* settings.
  explicit Topology(std::vector<std::string> up_args = {}, std::vector<std::string> env = {});
  ~Topology();

  bool ok() const { return ok_; }
  const std::string& up_output() const { return up_output_; }
  const std::string& dir() const { return dir_; }
  // Runs `georep demo up` again (restarts what is stopped, adds secondaries).
  bool Up(std::vector<std::string> extra_args = {});
  void Reload();

  const nlohmann::json& Site(const std::string& name) const;
  std::string Url(const std::string& site) const { return Site(site)["url"]; }
  std::string Config(const std::string& site) const { return Site(site)["config"]; }
  int Pid(const std::string& site) const { return Site(site)["pid"]; }
  std::unique_ptr<db::Connection> MainDb(const std::string& site) const;
  std::unique_ptr<db::Connection> TrackingDb(const std::string& site) const;

  nlohmann::json Status(const std::string& site) const;  // null if unreachable
  // The registry counts of one replicable on a secondary ("synced" etc.).
  int64_t Count(const std::string& site, const std::string& replicable,
                const std::string& state) const;
  // Sum over all replicables.
  int64_t TotalCount(const std::string& site, const std::string& state) const;

  // The sum of the samples of metric `name` on a site's /metrics whose
  // labels contain `label` (e.g. "status=\"200\"").
  double MetricSum(const std::string& site, const std::string& name,
                   const std::string& label = "") const;

  // A write to the sample forge (/api/v1/sample/…, not GET or HEAD) that
  // sets no Authorization header carries the topology's write token for
  // every project (HTTP Basic), as its users would.
  transport::HttpResult Post(const std::string& site, const std::string& path,
                             const std::string& body) const;
  transport::HttpResult Request(const std::string& site, const std::string& method,
                                const std::string& path, const std::string& body = "",
                                const std::vector<std::string>& headers = {}) const;
  // Request with the site's admin token (`Authorization: Bearer …`).
  transport::HttpResult Admin(const std::string& site, const std::string& method,
                              const std::string& path, const std::string& body = "") const;
  std::string AdminToken(const std::string& site) const;

 private:
  std::string root_;
  std::string dir_;
  std::vector<std::string> env_;
  nlohmann::json topology_;
  std::string up_output_;
  bool ok_ = false;
};

}  // namespace georep::test
