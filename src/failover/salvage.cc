#include "failover/salvage.h"

#include "absl/strings/str_cat.h"
#include "failover/peers.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/net.h"
#include "util/sha256.h"

namespace georep::failover {
namespace {

// The blob at `path` in `local`, whole; NotFound when it is not there.
absl::StatusOr<std::string> ReadLocal(const framework::BlobStore& local, const std::string& path) {
  auto location = local.Locate(path);
  if (!location.ok()) return location.status();
  std::string bytes;
  auto size = local.Read(*location, [&](absl::string_view piece) {
    bytes.append(piece.data(), piece.size());
    return true;
  });
  if (!size.ok()) return size.status();
  return bytes;
}

// The new primary's message in an error answer, else its status line.
std::string ErrorOf(const transport::HttpResult& res) {
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string())
    return absl::StrCat("HTTP ", res.status, " ", j.value("code", ""), ": ",
                        j["error"].get<std::string>());
  return absl::StrCat("HTTP ", res.status);
}

}  // namespace

absl::StatusOr<SalvageOutcome> Salvage(const config::Config& config,
                                       const framework::BlobStore& local,
                                       const SalvageRequest& request) {
  SalvageOutcome out;
  auto name = NewPrimaryName(config, request.primary_url);
  if (!name.ok()) return name.status();
  out.primary = *name;
  const std::string base = TrimTrailingSlashes(request.primary_url);
  auto listed = transport::HttpRequest(base + "/api/v1/lost",
                                       {.headers = request.headers, .timeout_seconds = 30});
  if (!listed.ok()) return listed.status();
  if (listed->status != 200) {
    return absl::Status(
        listed->status == 401 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kUnavailable,
        absl::StrCat(base, "/api/v1/lost answered ", ErrorOf(*listed),
                     listed->status == 401
                         ? " (give the new primary's admin token: --admin-token-file)"
                         : ""));
  }
  auto j = nlohmann::json::parse(listed->body, nullptr, false);
  if (!j.is_object() || !j["items"].is_array())
    return absl::UnavailableError(absl::StrCat(base, "/api/v1/lost: not a list of lost items"));
  for (const auto& item : j["items"]) {
    SalvagedItem s{.replicable = item.value("replicable", ""),
                   .id = item.value("id", int64_t{0}),
                   .path = item.value("path", "")};
    ++out.listed;
    const std::string digest =
        item["app_checksum"].is_string() ? item["app_checksum"].get<std::string>() : "";
    if (item.value("strategy", "") != "blob") {
      s.outcome = "a repository: not recovered by salvage (its refs are on the old primary's disk)";
    } else if (!item.value("row", false) || s.path.empty()) {
      s.outcome = "its row is gone on the new primary: nothing to recover";
    } else if (auto bytes = ReadLocal(local, s.path); !bytes.ok()) {
      s.outcome = absl::IsNotFound(bytes.status())
                      ? std::string("not in this site's storage either")
                      : absl::StrCat("cannot be read here: ", bytes.status().message());
    } else if (!digest.empty() && Sha256Hex(*bytes) != digest) {
      s.outcome = "the copy here differs from the application's digest: not sent";
    } else if (request.dry_run) {
      ++out.found;
      s.outcome = digest.empty() ? "found here (the application keeps no digest to check it)"
                                 : "found here, matching the application's digest";
    } else {
      ++out.found;
      auto put =
          transport::HttpRequest(absl::StrCat(base, "/api/v1/lost/", s.replicable, "/", s.id),
                                 {.method = "PUT",
                                  .headers = request.headers,
                                  .timeout_seconds = 600,
                                  .body_view = absl::string_view(*bytes)});
      if (!put.ok()) {
        s.outcome = absl::StrCat("not sent: ", put.status().message());
      } else if (put->status != 200) {
        s.outcome = absl::StrCat("refused by the new primary: ", ErrorOf(*put));
      } else {
        auto answer = nlohmann::json::parse(put->body, nullptr, false);
        s.recovered = true;
        ++out.recovered;
        s.outcome =
            absl::StrCat("recovered (checked against ",
                         answer.is_object() ? answer.value("checked_against", "?") : "?", ")");
      }
    }
    if (request.progress) {
      request.progress(absl::StrCat(s.replicable, " ", s.id, " ", s.path, ": ", s.outcome));
    }
    out.items.push_back(std::move(s));
  }
  return out;
}

}  // namespace georep::failover
