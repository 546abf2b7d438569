#include "failover/peers.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/net.h"

namespace georep::failover {

absl::StatusOr<SecondaryDatabases> OpenSecondaryDatabases(const config::Config& config) {
  if (config.tracking_database.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("runs on a secondary (setting \"database.tracking\" in ", config.path,
                     " is not set: this is the primary's configuration)"));
  }
  SecondaryDatabases dbs;
  auto standby = db::Connection::Open(config.main_database);
  if (!standby.ok()) {
    return absl::Status(standby.status().code(),
                        absl::StrCat("main database (setting \"database.main\" in ", config.path,
                                     "): ", standby.status().message()));
  }
  auto tracking = db::Connection::Open(config.tracking_database);
  if (!tracking.ok()) return tracking.status();
  dbs.standby = std::move(*standby);
  dbs.tracking = std::move(*tracking);
  return dbs;
}

PrimaryClaims OtherPrimaries(const std::vector<site::Site>& sites, const std::string& self) {
  PrimaryClaims claims;
  for (const auto& other : sites) {
    if (other.name == self) continue;
    ++claims.asked;
    std::string url = TrimTrailingSlashes(other.InternalUrl());
    auto res = transport::HttpRequest(url + "/api/v1/status", {.timeout_seconds = 5});
    if (!res.ok() || res->status != 200) {
      claims.unreachable.push_back(absl::StrCat(
          other.name, " (",
          res.ok() ? absl::StrCat("HTTP ", res->status) : std::string(res.status().message()),
          ")"));
      continue;
    }
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_object() && j.value("role", "") == "primary" && j.value("site", "") == other.name)
      claims.others.push_back(absl::StrCat(other.name, " at ", url));
  }
  return claims;
}

// The new primary's daemon, by its status: its site name. InvalidArgument
// when it is this site.
absl::StatusOr<std::string> NewPrimaryName(const config::Config& config, const std::string& url) {
  auto res =
      transport::HttpRequest(TrimTrailingSlashes(url) + "/api/v1/status", {.timeout_seconds = 10});
  if (!res.ok()) return res.status();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || !j.is_object() || !j.value("site", nlohmann::json()).is_string()) {
    return absl::UnavailableError(
        absl::StrCat(url, "/api/v1/status answered HTTP ", res->status, ", not a site's status"));
  }
  if (j.value("role", "") != "primary") {
    return absl::FailedPreconditionError(absl::StrCat(
        "site \"", j["site"].get<std::string>(), "\" at ", url,
        " is not the primary (its role: ", j.value("role", "?"), "); promote it first"));
  }
  std::string name = j["site"].get<std::string>();
  if (name == config.site_name)
    return absl::InvalidArgumentError(absl::StrCat(url, " is this site"));
  return name;
}

}  // namespace georep::failover
