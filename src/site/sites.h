// Sites: rows of georep.geo_nodes in the primary's main database. Every
// secondary sees them through streaming replication.
//
// Writes need the primary (a writable main DB); reads work on any site.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/connection.h"
#include "georep/selective_sync.h"

namespace georep::site {

struct Site {
  int64_t id = 0;
  std::string name;
  std::string url;           // public URL users and Git clients reach
  std::string internal_url;  // URL other sites use; empty means `url`
  bool primary = false;
  bool enabled = true;
  std::string access_key;
  std::string secret_access_key;  // empty unless asked for
  int files_max_capacity = 10;
  int repos_max_capacity = 10;
  int verification_max_capacity = 10;
  // Re-verify every copy this often; nullopt: the site's configuration.
  std::optional<double> reverify_interval_seconds;
  SelectiveSync selective_sync;  // what a secondary holds (include/georep/selective_sync.h)
  // Replicables this site does not replicate (its configuration may add more:
  // DisabledReplicables in config/config.h).
  std::vector<std::string> disabled_replicables;

  const std::string& InternalUrl() const { return internal_url.empty() ? url : internal_url; }
  absl::string_view Role() const { return primary ? "primary" : "secondary"; }
};

struct NewSite {
  std::string name;
  std::string url;
  std::string internal_url;
  bool primary = false;
};

// Creates a site with a fresh access key and secret (returned once, in the
// result). Fails with AlreadyExists for a taken name or a second primary.
absl::StatusOr<Site> AddSite(db::Connection& conn, const NewSite& site);
absl::StatusOr<std::vector<Site>> ListSites(db::Connection& conn);
// NotFound names the site and the database when there is no such site.
absl::StatusOr<Site> FindSite(db::Connection& conn, const std::string& name,
                              bool with_secret = false);
absl::Status RemoveSite(db::Connection& conn, const std::string& name);
absl::Status SetSiteEnabled(db::Connection& conn, const std::string& name, bool enabled);

// What PUT /api/v1/sites/NAME may change; unset fields stay as they are.
struct SiteChanges {
  std::optional<bool> enabled;
  std::optional<int> files_max_capacity;         // 1 to kMaxCapacity
  std::optional<int> repos_max_capacity;         // 1 to kMaxCapacity
  std::optional<int> verification_max_capacity;  // 1 to kMaxCapacity
  // A value sets it (1 to 31536000 s); `clear_reverify_interval` returns
  // the site to its configuration's period.
  std::optional<double> reverify_interval_seconds;
  bool clear_reverify_interval = false;
  // Replaces the whole selection (ValidateSelectiveSync).
  std::optional<SelectiveSync> selective_sync;
  // Replaces the list; names are checked by the caller against its specs.
  std::optional<std::vector<std::string>> disabled_replicables;
};
inline constexpr int kMaxCapacity = 1000;

// Applies `changes` to site `name` and returns the row as it now is.
// InvalidArgument names the bad field; NotFound names the site.
absl::StatusOr<Site> UpdateSite(db::Connection& conn, const std::string& name,
                                const SiteChanges& changes);

// A site's Geo key when its configuration gives none: its own row in
// geo_nodes (which every site holds, replicated). Leaves both untouched when
// either is set.
absl::Status FillKeysFromRow(db::Connection& conn, const std::string& name, std::string* access_key,
                             std::string* secret_access_key);

// A selection must list what it selects: namespaces are full paths of
// segments of letters, digits, '.', '_' and '-' joined by '/' ("a",
// "a/b"), shards are names like site names; none lists nothing. Messages
// name the bad entry.
absl::Status ValidateSelectiveSync(const SelectiveSync& s);
// "none", "namespaces" or "shards"; InvalidArgument names the others.
absl::StatusOr<SelectiveSync::Kind> ParseSelectiveSyncKind(absl::string_view text);

// Checks a site URL: http:// or https://, a host, no spaces.
absl::Status ValidateUrl(absl::string_view what, absl::string_view url);

}  // namespace georep::site
