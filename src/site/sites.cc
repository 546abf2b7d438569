#include "site/sites.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "util/random.h"
#include "util/validate.h"

namespace georep::site {
namespace {

constexpr char kColumns[] =
    "id, name, url, coalesce(internal_url, ''), is_primary, enabled, access_key, "
    "files_max_capacity, repos_max_capacity, verification_max_capacity, secret_access_key, "
    "reverify_interval_seconds, coalesce(selective_sync_type, 'none'), "
    "array_to_string(selective_sync_namespaces, chr(10)), "
    "array_to_string(selective_sync_shards, chr(10)), "
    "array_to_string(disabled_replicables, chr(10))";

std::vector<std::string> Lines(absl::string_view text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

Site FromRow(const db::Result& r, int row, bool with_secret) {
  Site s;
  s.id = r.GetInt64(row, 0);
  s.name = std::string(r.Get(row, 1));
  s.url = std::string(r.Get(row, 2));
  s.internal_url = std::string(r.Get(row, 3));
  s.primary = r.GetBool(row, 4);
  s.enabled = r.GetBool(row, 5);
  s.access_key = std::string(r.Get(row, 6));
  s.files_max_capacity = static_cast<int>(r.GetInt64(row, 7));
  s.repos_max_capacity = static_cast<int>(r.GetInt64(row, 8));
  s.verification_max_capacity = static_cast<int>(r.GetInt64(row, 9));
  if (with_secret) s.secret_access_key = std::string(r.Get(row, 10));
  if (!r.IsNull(row, 11)) s.reverify_interval_seconds = r.GetDouble(row, 11);
  auto kind = ParseSelectiveSyncKind(r.Get(row, 12));
  if (kind.ok()) s.selective_sync.kind = *kind;
  s.selective_sync.namespaces = Lines(r.Get(row, 13));
  s.selective_sync.shards = Lines(r.Get(row, 14));
  s.disabled_replicables = Lines(r.Get(row, 15));
  return s;
}

absl::Status ValidateName(const std::string& name) {
  if (!IsName(name, 63)) {
    return absl::InvalidArgumentError(
        absl::StrCat("site name \"", Excerpt(name),
                     "\" must be 1 to 63 letters, digits, '.', '_' or '-', "
                     "starting with a letter or digit"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SelectiveSync::Kind> ParseSelectiveSyncKind(absl::string_view text) {
  for (auto k : {SelectiveSync::Kind::kNone, SelectiveSync::Kind::kNamespaces,
                 SelectiveSync::Kind::kShards}) {
    if (text == SelectiveSyncKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("selective sync \"", text, "\" is not one of none, namespaces, shards"));
}

absl::Status ValidateSelectiveSync(const SelectiveSync& s) {
  switch (s.kind) {
    case SelectiveSync::Kind::kNone:
      if (!s.namespaces.empty() || !s.shards.empty()) {
        return absl::InvalidArgumentError(
            "selective sync none selects everything: give no namespaces or shards");
      }
      return absl::OkStatus();
    case SelectiveSync::Kind::kNamespaces:
      if (s.namespaces.empty() || !s.shards.empty()) {
        return absl::InvalidArgumentError(
            "selective sync by namespaces needs at least one namespace and no shards");
      }
      for (const auto& n : s.namespaces) {
        if (!IsSlashPath(n, 20, 100) || absl::StrContains(n, "..")) {
          return absl::InvalidArgumentError(absl::StrCat(
              "namespace \"", Excerpt(n),
              "\" is not a full path: segments of letters, digits, '.', '_' and '-' joined by "
              "'/', as in \"group\" or \"group/subgroup\""));
        }
      }
      return absl::OkStatus();
    case SelectiveSync::Kind::kShards:
      if (s.shards.empty() || !s.namespaces.empty()) {
        return absl::InvalidArgumentError(
            "selective sync by shards needs at least one shard and no namespaces");
      }
      for (const auto& n : s.shards) {
        if (!IsName(n, 63)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "shard \"", Excerpt(n), "\" must be 1 to 63 letters, digits, '.', '_' or '-'"));
        }
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status FillKeysFromRow(db::Connection& conn, const std::string& name, std::string* access_key,
                             std::string* secret_access_key) {
  if (!access_key->empty() || !secret_access_key->empty()) return absl::OkStatus();
  auto row = FindSite(conn, name, /*with_secret=*/true);
  if (!row.ok()) return row.status();
  *access_key = row->access_key;
  *secret_access_key = row->secret_access_key;
  return absl::OkStatus();
}

absl::Status ValidateUrl(absl::string_view what, absl::string_view url) {
  // http(s)://HOST[:PORT][/PATH]: a host without '/', ':', '?', '#', '@' or
  // white space,
  // a port of 1 to 65535, a path without white space; 2048 bytes at most.
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", Excerpt(url), "\" is not an http:// or https:// URL (", why, ")"));
  };
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == '\0'; };
  if (url.size() > 2048) return bad("longer than 2048 characters");
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://"))
    return bad("no http:// or https://");
  size_t host_end = 0;
  while (host_end < rest.size() &&
         absl::string_view("/:?#@").find(rest[host_end]) == absl::string_view::npos &&
         !space(rest[host_end]))
    ++host_end;
  if (host_end == 0) return bad("no host");
  rest.remove_prefix(host_end);
  if (absl::ConsumePrefix(&rest, ":")) {
    size_t digits = 0;
    int port = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9' && digits < 6)
      port = port * 10 + (rest[digits++] - '0');
    if (digits == 0 || digits > 5 || port < 1 || port > 65535) return bad("port not 1 to 65535");
    rest.remove_prefix(digits);
  }
  if (!rest.empty() && rest[0] != '/') return bad("the host is followed by neither :PORT nor /");
  for (char c : rest) {
    if (space(c)) return bad("white space");
  }
  return absl::OkStatus();
}

absl::StatusOr<Site> AddSite(db::Connection& conn, const NewSite& site) {
  if (auto s = ValidateName(site.name); !s.ok()) return s;
  if (auto s = ValidateUrl("--url", site.url); !s.ok()) return s;
  if (!site.internal_url.empty()) {
    if (auto s = ValidateUrl("--internal-url", site.internal_url); !s.ok()) return s;
  }
  auto existing = conn.Exec(
      "SELECT name, is_primary FROM georep.geo_nodes WHERE name = $1 OR is_primary", {site.name});
  if (!existing.ok()) return existing.status();
  for (int i = 0; i < existing->rows(); ++i) {
    if (existing->Get(i, 0) == site.name) {
      return absl::AlreadyExistsError(absl::StrCat("site \"", site.name, "\" already exists"));
    }
    if (site.primary && existing->GetBool(i, 1)) {
      return absl::AlreadyExistsError(
          absl::StrCat("site \"", existing->Get(i, 0), "\" is already the primary; there is one"));
    }
  }
  std::string access_key = RandomHex(10);
  std::string secret = RandomHex(32);
  auto r =
      conn.Exec(absl::StrCat("INSERT INTO georep.geo_nodes (name, url, internal_url, is_primary, "
                             "access_key, secret_access_key) VALUES ($1, $2, nullif($3, ''), $4, "
                             "$5, $6) RETURNING ",
                             kColumns),
                {site.name, site.url, site.internal_url, site.primary ? "true" : "false",
                 access_key, secret});
  if (!r.ok()) return r.status();
  return FromRow(*r, 0, /*with_secret=*/true);
}

absl::StatusOr<std::vector<Site>> ListSites(db::Connection& conn) {
  auto r = conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM georep.geo_nodes ORDER BY id"));
  if (!r.ok()) return r.status();
  std::vector<Site> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(FromRow(*r, i, false));
  return out;
}

absl::StatusOr<Site> FindSite(db::Connection& conn, const std::string& name, bool with_secret) {
  auto r = conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM georep.geo_nodes WHERE name = $1"),
                     {name});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no site named \"", name, "\" in geo_nodes of database (", conn.display_name(), ")"));
  }
  return FromRow(*r, 0, with_secret);
}

absl::Status RemoveSite(db::Connection& conn, const std::string& name) {
  auto r = conn.Exec("DELETE FROM georep.geo_nodes WHERE name = $1", {name});
  if (!r.ok()) return r.status();
  if (r->affected_rows() == 0)
    return absl::NotFoundError(absl::StrCat("no site named \"", name, "\""));
  return absl::OkStatus();
}

absl::Status SetSiteEnabled(db::Connection& conn, const std::string& name, bool enabled) {
  return UpdateSite(conn, name, {.enabled = enabled}).status();
}

absl::StatusOr<Site> UpdateSite(db::Connection& conn, const std::string& name,
                                const SiteChanges& changes) {
  std::vector<std::string> sets = {"updated_at = now()"};
  db::Params params = {name};
  auto set = [&](const char* column, std::string value) {
    params.push_back(std::move(value));
    sets.push_back(absl::StrCat(column, " = $", params.size()));
  };
  if (changes.enabled) set("enabled", *changes.enabled ? "true" : "false");
  for (auto [column, value] : {std::pair<const char*, std::optional<int>>{
                                   "files_max_capacity", changes.files_max_capacity},
                               {"repos_max_capacity", changes.repos_max_capacity},
                               {"verification_max_capacity", changes.verification_max_capacity}}) {
    if (!value) continue;
    if (*value < 1 || *value > kMaxCapacity) {
      return absl::InvalidArgumentError(
          absl::StrCat(column, " ", *value, " is not 1 to ", kMaxCapacity));
    }
    set(column, absl::StrCat(*value));
  }
  if (changes.reverify_interval_seconds) {
    double d = *changes.reverify_interval_seconds;
    if (!(d >= 1 && d <= 31536000)) {
      return absl::InvalidArgumentError(
          absl::StrCat("reverify_interval_seconds ", d, " is not 1 to 31536000"));
    }
    set("reverify_interval_seconds", absl::StrCat(d));
  } else if (changes.clear_reverify_interval) {
    sets.push_back("reverify_interval_seconds = NULL");
  }
  if (changes.selective_sync) {
    const SelectiveSync& sel = *changes.selective_sync;
    if (auto st = ValidateSelectiveSync(sel); !st.ok()) return st;
    if (sel.active()) {
      auto primary = conn.Exec("SELECT is_primary FROM georep.geo_nodes WHERE name = $1", {name});
      if (!primary.ok()) return primary.status();
      if (primary->rows() > 0 && primary->GetBool(0, 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("site \"", name,
                         "\" is the primary, which holds everything: selective sync is for "
                         "secondaries"));
      }
      set("selective_sync_type", SelectiveSyncKindName(sel.kind));
    } else {
      sets.push_back("selective_sync_type = NULL");
    }
    params.push_back(db::TextArray(sel.namespaces));
    sets.push_back(absl::StrCat("selective_sync_namespaces = $", params.size(), "::text[]"));
    params.push_back(db::TextArray(sel.shards));
    sets.push_back(absl::StrCat("selective_sync_shards = $", params.size(), "::text[]"));
  }
  if (changes.disabled_replicables) {
    for (const auto& n : *changes.disabled_replicables) {
      if (!IsLowerIdentifier(n, 41, /*leading_underscore=*/false)) {
        return absl::InvalidArgumentError(
            absl::StrCat("disabled_replicables: \"", Excerpt(n), "\" is not a replicable name"));
      }
    }
    params.push_back(db::TextArray(*changes.disabled_replicables));
    sets.push_back(absl::StrCat("disabled_replicables = $", params.size(), "::text[]"));
  }
  auto r = conn.Exec(absl::StrCat("UPDATE georep.geo_nodes SET ", absl::StrJoin(sets, ", "),
                                  " WHERE name = $1 RETURNING ", kColumns),
                     params);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no site named \"", name, "\""));
  return FromRow(*r, 0, /*with_secret=*/false);
}

}  // namespace georep::site
