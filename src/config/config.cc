// Loading a site's settings: the TOML file, then the GEOREP_* environment,
// then the checks across settings; and the TOML written back. The settings
// themselves are the table of settings.cc.
#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "config/settings.h"
#include "toml++/toml.h"
#include "util/fs.h"
#include "util/net.h"

namespace georep::config {
namespace {

absl::Status SettingError(absl::string_view key, absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("setting \"", key, "\" in ", where, ": ", what));
}

// Keys of a [[replicable]] block.
absl::Status ParseReplicable(const toml::table& block, size_t index, const std::string& path,
                             Config& config) {
  ReplicableSpec spec;
  spec.origin = path;
  std::string where = absl::StrCat("replicable[", index, "]");
  std::string strategy = "blob";
  for (const auto& [k, node] : block) {
    std::string key(k.str());
    auto text = node.value_exact<std::string>();
    if (!text) {
      return SettingError(absl::StrCat(where, ".", key), path, "expected a string");
    }
    if (key == "name")
      spec.name = *text;
    else if (key == "title")
      spec.title = *text;
    else if (key == "strategy")
      strategy = *text;
    else if (key == "table")
      spec.model_table = *text;
    else if (key == "id_column")
      spec.id_column = *text;
    else if (key == "path_template")
      spec.path_template = *text;
    else if (key == "namespace_sql")
      spec.namespace_sql = *text;
    else if (key == "shard_sql")
      spec.shard_sql = *text;
    else if (key == "path_sql")
      spec.path_sql = *text;
    else if (key == "checksum_column")
      spec.checksum_column = *text;
    else if (key == "checksum_algorithm")
      spec.checksum_algorithm = *text;
    else
      return absl::InvalidArgumentError(
          absl::StrCat("unknown setting \"", where, ".", key, "\" in ", path));
  }
  for (auto [key, value] :
       {std::pair<const char*, std::string*>{"name", &spec.name}, {"table", &spec.model_table}}) {
    if (value->empty()) return SettingError(absl::StrCat(where, ".", key), path, "required");
  }
  if (spec.path_template.empty() && spec.path_sql.empty()) {
    return SettingError(absl::StrCat(where, ".path_template"), path,
                        "required (or path_sql, an SQL expression)");
  }
  if (!spec.path_template.empty() && !spec.path_sql.empty()) {
    return SettingError(absl::StrCat(where, ".path_sql"), path,
                        "give the path by path_template or by path_sql, not both");
  }
  if (!spec.checksum_column.empty() && spec.checksum_algorithm.empty())
    spec.checksum_algorithm = "sha256";
  bool known = false;
  std::string names;
  for (Strategy s : kStrategies) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", StrategyName(s));
    if (strategy == StrategyName(s)) {
      spec.strategy = s;
      known = true;
    }
  }
  if (!known) {
    return SettingError(absl::StrCat(where, ".strategy"), path,
                        absl::StrCat("\"", strategy, "\" is not a strategy (", names, ")"));
  }
  config.replicables.push_back(std::move(spec));
  return absl::OkStatus();
}

}  // namespace

std::string ListenUrl(const Config& config) {
  auto hp = ParseHostPort(config.http_listen);
  if (!hp.ok()) return "";
  std::string host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host;
  return absl::StrCat(config.tls_cert.empty() ? "http://" : "https://", host, ":", hp->port);
}

namespace {

const SettingDef* FindDef(absl::string_view key) {
  for (const auto& d : Settings()) {
    if (d.key == key) return &d;
  }
  return nullptr;
}

// Edits between two words (Levenshtein).
size_t Distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean \"storage.root\"?)" for a key a few edits from a known
// one (`name` maps a setting to the form asked about: its key, or its
// environment variable); "" when none is near.
std::string DidYouMean(absl::string_view asked,
                       const std::function<std::string(const SettingDef&)>& name) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, asked.size() / 4) + 1;
  for (const auto& d : Settings()) {
    std::string candidate = name(d);
    size_t distance = Distance(absl::AsciiStrToLower(asked), absl::AsciiStrToLower(candidate));
    // The last word alone under another section counts too: "root" for storage.root.
    if (size_t dot = candidate.rfind('.');
        dot != std::string::npos && asked == absl::string_view(candidate).substr(dot + 1)) {
      distance = 1;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best.empty() ? "" : absl::StrCat(" (did you mean \"", best, "\"?)");
}

absl::StatusOr<Value> FromToml(const SettingDef& def, const toml::node& node) {
  switch (def.type) {
    case Type::kString:
      if (auto v = node.value_exact<std::string>()) return Value(*v);
      break;
    case Type::kInt:
      if (auto v = node.value_exact<int64_t>()) return Value(*v);
      break;
    case Type::kDouble:
      if (auto v = node.value_exact<double>()) return Value(*v);
      if (auto v = node.value_exact<int64_t>()) return Value(*v);
      break;
    case Type::kBool:
      if (auto v = node.value_exact<bool>()) return Value(*v);
      break;
    case Type::kList:
      if (const toml::array* a = node.as_array()) {
        List out;
        for (const auto& item : *a) {
          auto text = item.value_exact<std::string>();
          if (!text) return absl::InvalidArgumentError("expected an array of strings");
          out.push_back(*text);
        }
        return Value(out);
      }
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("expected ", TypeName(def.type)));
}

absl::StatusOr<Value> FromText(const SettingDef& def, const std::string& text) {
  switch (def.type) {
    case Type::kString:
      return Value(text);
    case Type::kInt: {
      int64_t v;
      if (absl::SimpleAtoi(text, &v)) return Value(v);
      break;
    }
    case Type::kDouble: {
      double v;
      if (absl::SimpleAtod(text, &v)) return Value(v);
      break;
    }
    case Type::kBool:
      if (text == "true") return Value(true);
      if (text == "false") return Value(false);
      break;
    case Type::kList: {
      List out;
      for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace()))
        out.emplace_back(absl::StripAsciiWhitespace(item));
      return Value(out);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not ", TypeName(def.type)));
}

// The file's text as TOML: NotFound when there is no file, InvalidArgument
// naming the line and column of a syntax error.
absl::StatusOr<toml::table> ReadToml(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("config file ", path, ": not found (pass --config PATH)"));
  }
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": line ", e.source().begin.line, ", column ",
                     e.source().begin.column, ": ", std::string(e.description())));
  }
  return table;
}

// The file's settings and [[replicable]] blocks, into `config`.
absl::Status ApplyToml(const toml::table& table, const std::string& path, Config& config) {
  absl::Status status = absl::OkStatus();
  auto visit = [&](absl::string_view key, const toml::node& node) {
    if (!status.ok()) return;
    const SettingDef* def = FindDef(key);
    if (def == nullptr) {
      status = absl::InvalidArgumentError(
          absl::StrCat("unknown setting \"", key, "\" in ", path,
                       DidYouMean(key, [](const SettingDef& d) { return std::string(d.key); })));
      return;
    }
    auto value = FromToml(*def, node);
    if (!value.ok()) {
      status = SettingError(key, path, value.status().message());
      return;
    }
    if (auto s = def->apply(config, *value); !s.ok()) status = SettingError(key, path, s.message());
  };
  for (const auto& [k, node] : table) {
    if (k.str() == "replicable") {
      const toml::array* blocks = node.as_array();
      if (blocks == nullptr || !blocks->is_array_of_tables()) {
        return SettingError("replicable", path, "expected [[replicable]] blocks");
      }
      for (size_t i = 0; i < blocks->size(); ++i) {
        if (auto st = ParseReplicable(*blocks->get(i)->as_table(), i, path, config); !st.ok())
          return st;
      }
      continue;
    }
    if (const toml::table* section = node.as_table()) {
      for (const auto& [sub, subnode] : *section) {
        visit(absl::StrCat(std::string(k.str()), ".", std::string(sub.str())), subnode);
      }
    } else {
      visit(std::string(k.str()), node);
    }
  }
  return status;
}

// A mistyped override must not be ignored: every GEOREP_* variable is a
// setting (or one of the few the tools read themselves).
absl::Status CheckEnvNames(const std::vector<std::string>& env_names) {
  for (const std::string& name : env_names) {
    // The tools' own: PostgreSQL's binaries (the demo), the configuration
    // file (every verb), the demo's S3 server.
    if (!absl::StartsWith(name, "GEOREP_") || name == "GEOREP_PG_BIN" || name == "GEOREP_CONFIG" ||
        name == "GEOREP_S3_SERVER")
      continue;
    bool known = false;
    for (const auto& def : Settings()) known = known || EnvName(def.key) == name;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable ", name,
          " is not a Georep setting (`georep serve --help` lists them): unset it or fix its "
          "name",
          DidYouMean(name, [](const SettingDef& d) { return EnvName(d.key); })));
    }
  }
  return absl::OkStatus();
}

// The settings the environment overrides, into `config`.
absl::Status ApplyEnv(const EnvLookup& env, Config& config) {
  for (const auto& def : Settings()) {
    std::string name = EnvName(def.key);
    std::optional<std::string> text = env(name);
    if (!text) continue;
    auto value = FromText(def, *text);
    if (!value.ok()) return SettingError(def.key, name, value.status().message());
    if (auto s = def.apply(config, *value); !s.ok())
      return SettingError(def.key, name, s.message());
  }
  return absl::OkStatus();
}

// What holds across settings (the required ones, the TLS pair), and the
// secret read from its file.
absl::Status CheckLoaded(const std::string& path, Config& config) {
  if (config.site_name.empty()) return SettingError("site_name", path, "required");
  if (config.main_database.empty()) return SettingError("database.main", path, "required");
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return SettingError(config.tls_cert.empty() ? "http.tls_cert" : "http.tls_key", path,
                        "required with the other (HTTPS needs a certificate and its key)");
  }
  if (!config.secret_access_key_file.empty()) {
    if (!config.secret_access_key.empty()) {
      return SettingError("auth.secret_access_key_file", path,
                          "set it or auth.secret_access_key, not both");
    }
    auto secret = ReadFile(config.secret_access_key_file);
    if (!secret.ok())
      return SettingError("auth.secret_access_key_file", path, secret.status().message());
    config.secret_access_key = std::string(absl::StripAsciiWhitespace(*secret));
    if (config.secret_access_key.empty())
      return SettingError("auth.secret_access_key_file", path, "the file is empty");
  }
  return absl::OkStatus();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::vector<std::string> ProcessEnvNames() {
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

absl::StatusOr<Config> LoadConfig(const std::string& path, const EnvLookup& env,
                                  const std::vector<std::string>& env_names) {
  Config config;
  config.path = path;
  auto table = ReadToml(path);
  if (!table.ok()) return table.status();
  if (auto s = ApplyToml(*table, path, config); !s.ok()) return s;
  if (auto s = CheckEnvNames(env_names); !s.ok()) return s;
  if (auto s = ApplyEnv(env, config); !s.ok()) return s;
  if (auto s = CheckLoaded(path, config); !s.ok()) return s;
  return config;
}

std::string RenderConfig(const Config& config) {
  toml::table root;
  for (const auto& def : Settings()) {
    std::optional<Value> v = def.read(config);
    if (!v) continue;
    // A secret read from its file stays in the file.
    if (def.key == "auth.secret_access_key" && !config.secret_access_key_file.empty()) continue;
    size_t dot = def.key.find('.');
    toml::table* target = &root;
    std::string leaf(def.key);
    if (dot != absl::string_view::npos) {
      std::string section(def.key.substr(0, dot));
      if (!root.contains(section)) root.insert(section, toml::table{});
      target = root[section].as_table();
      leaf = std::string(def.key.substr(dot + 1));
    }
    std::visit(
        [&](const auto& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, List>) {
            toml::array a;
            for (const auto& item : x) a.push_back(item);
            target->insert_or_assign(leaf, std::move(a));
          } else {
            target->insert_or_assign(leaf, x);
          }
        },
        *v);
  }
  if (!config.replicables.empty()) {
    toml::array blocks;
    for (const auto& r : config.replicables) {
      toml::table b{{"name", r.name}, {"table", r.model_table}};
      if (!r.path_template.empty()) b.insert("path_template", r.path_template);
      if (!r.path_sql.empty()) b.insert("path_sql", r.path_sql);
      if (!r.checksum_column.empty()) {
        b.insert("checksum_column", r.checksum_column);
        b.insert("checksum_algorithm", r.checksum_algorithm);
      }
      if (!r.title.empty()) b.insert("title", r.title);
      if (r.id_column != "id") b.insert("id_column", r.id_column);
      if (!r.namespace_sql.empty()) b.insert("namespace_sql", r.namespace_sql);
      if (!r.shard_sql.empty()) b.insert("shard_sql", r.shard_sql);
      if (r.strategy != Strategy::kBlob)
        b.insert("strategy", std::string(StrategyName(r.strategy)));
      blocks.push_back(std::move(b));
    }
    root.insert("replicable", std::move(blocks));
  }
  std::ostringstream out;
  out << "# Georep site configuration. Every setting can be overridden by GEOREP_<SECTION>_<KEY>.\n"
      << root << "\n";
  return out.str();
}

std::vector<std::string> DisabledReplicables(const Config& config,
                                             const std::vector<std::string>& in_row) {
  std::vector<std::string> out = config.disabled_replicables;
  out.insert(out.end(), in_row.begin(), in_row.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace georep::config
