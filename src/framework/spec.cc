#include "framework/spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "db/connection.h"
#include "framework/object_store.h"
#include "framework/states.h"
#include "framework/strategy.h"
#include "util/fs.h"
#include "util/logging.h"

namespace georep::framework {
namespace {

bool IsIdentifier(absl::string_view s) {
  static const std::regex kIdent("^[a-z_][a-z0-9_]{0,62}$");
  return std::regex_match(std::string(s), kIdent);
}

}  // namespace

absl::StatusOr<PathTemplate> ParsePathTemplate(absl::string_view text) {
  PathTemplate t;
  bool has_column = false;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find('{', i);
    size_t close_stray = text.find('}', i);
    if (close_stray != absl::string_view::npos &&
        (open == absl::string_view::npos || close_stray < open)) {
      return absl::InvalidArgumentError(
          absl::StrCat("path template \"", text, "\" has a '}' without '{'"));
    }
    if (open == absl::string_view::npos) {
      t.parts.push_back({false, std::string(text.substr(i))});
      break;
    }
    if (open > i) t.parts.push_back({false, std::string(text.substr(i, open - i))});
    size_t close = text.find('}', open);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("path template \"", text, "\" has an unclosed '{'"));
    }
    absl::string_view column = text.substr(open + 1, close - open - 1);
    if (!IsIdentifier(column)) {
      return absl::InvalidArgumentError(
          absl::StrCat("path template \"", text, "\": {", column, "} is not a column name"));
    }
    t.parts.push_back({true, std::string(column)});
    has_column = true;
    i = close + 1;
  }
  if (!has_column) {
    return absl::InvalidArgumentError(absl::StrCat(
        "path template \"", text, "\" names no {column}, so every row would share one file"));
  }
  for (const auto& p : t.parts) {
    if (p.column) continue;
    if (p.text.find('\0') != std::string::npos || absl::StrContains(p.text, "..") ||
        (&p == &t.parts.front() && !p.text.empty() && p.text[0] == '/')) {
      return absl::InvalidArgumentError(
          absl::StrCat("path template \"", text, "\" must be relative, without \"..\""));
    }
  }
  return t;
}

const std::string& RootOf(const ReplicableSpec& spec, const std::string& storage_root,
                          const std::string& repository_root) {
  return DescriptorOf(spec).under_repository_root ? repository_root : storage_root;
}

void RemoveLocalCopy(const ReplicableSpec& spec, const std::string& root,
                     const std::string& full_path) {
  if (full_path.empty()) return;
  if (IsObjectPath(full_path)) {
    if (auto s = RemoveObject(full_path); !s.ok()) {
      log::Warn(
          "copy in the bucket not removed",
          {{"replicable", spec.name}, {"path", full_path}, {"error", std::string(s.message())}});
    }
    return;
  }
  std::string prefix = root;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  prefix += '/';
  absl::Status s = root.empty() || !absl::StartsWith(full_path, prefix)
                       ? absl::PermissionDeniedError(absl::StrCat("not beneath ", root))
                       : RemoveBeneath(root, absl::string_view(full_path).substr(prefix.size()),
                                       DescriptorOf(spec).copy_is_tree);
  if (!s.ok()) {
    log::Warn(
        "local copy not removed",
        {{"replicable", spec.name}, {"path", full_path}, {"error", std::string(s.message())}});
  }
}

absl::Status ValidateSpec(const ReplicableSpec& spec) {
  static const std::regex kName("^[a-z][a-z0-9_]{0,40}$");
  static const std::regex kTable("^([a-z_][a-z0-9_]{0,62}\\.)?[a-z_][a-z0-9_]{0,62}$");
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicable \"", spec.name, "\" (", spec.origin, "): ", what));
  };
  if (!std::regex_match(spec.name, kName))
    return bad("name must be lower_snake_case, at most 41 characters");
  if (!std::regex_match(spec.model_table, kTable)) {
    return bad(
        absl::StrCat("table \"", spec.model_table, "\" is not [schema.]table in lower case"));
  }
  if (!IsIdentifier(spec.id_column))
    return bad(absl::StrCat("id column \"", spec.id_column, "\" is not a column name"));
  auto t = ParsePathTemplate(spec.path_template);
  if (!t.ok()) return bad(t.status().message());
  for (auto [key, text] :
       {std::pair<const char*, const std::string*>{"namespace_sql", &spec.namespace_sql},
        {"shard_sql", &spec.shard_sql}}) {
    if (text->empty()) continue;
    if (auto r = RowSql(*text, "m"); !r.ok())
      return bad(absl::StrCat(key, ": ", r.status().message()));
  }
  absl::string_view suffix = DescriptorOf(spec).path_suffix;
  if (!absl::EndsWith(spec.path_template, suffix)) {
    return bad(absl::StrCat("a ", StrategyName(spec.strategy), "'s path template must end in \"",
                            suffix, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ReplicableSpec>> ResolveSpecs(std::vector<ReplicableSpec> declared) {
  std::vector<ReplicableSpec> all = BuiltinReplicables();
  all.insert(all.end(), declared.begin(), declared.end());
  std::set<std::string> names;
  for (auto& s : all) {
    if (s.title.empty()) s.title = s.name;
    if (auto st = ValidateSpec(s); !st.ok()) return st;
    if (!names.insert(s.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("replicable \"", s.name, "\" (", s.origin, ") is declared twice"));
    }
  }
  return all;
}

std::string QuotedTable(const ReplicableSpec& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec.model_table, '.');
  std::string out;
  for (const auto& p : parts) absl::StrAppend(&out, out.empty() ? "" : ".", db::QuoteIdent(p));
  return out;
}

std::string QuotedIdColumn(const ReplicableSpec& spec) { return db::QuoteIdent(spec.id_column); }

std::string RegistryTable(const ReplicableSpec& spec) {
  return absl::StrCat("georep.", spec.name, "_registry");
}

std::string StatesTable(const ReplicableSpec& spec) {
  return absl::StrCat("georep.", spec.name, "_states");
}

std::string SpecSql(const ReplicableSpec& spec, absl::string_view text) {
  return StateSql(absl::StrReplaceAll(text, {{"$STATES", StatesTable(spec)},
                                             {"$REG", RegistryTable(spec)},
                                             {"$NAME", spec.name},
                                             {"$MODEL", QuotedTable(spec)},
                                             {"$ID", QuotedIdColumn(spec)}}));
}

std::string PathSql(const ReplicableSpec& spec, absl::string_view alias) {
  auto t = ParsePathTemplate(spec.path_template);
  std::string out = "(";
  bool first = true;
  for (const auto& p : t->parts) {
    if (!first) out += " || ";
    first = false;
    if (p.column) {
      absl::StrAppend(&out, alias, ".", db::QuoteIdent(p.text), "::text");
    } else {
      std::string lit = "'";
      for (char c : p.text) {
        if (c == '\'') lit += '\'';
        lit += c;
      }
      absl::StrAppend(&out, lit, "'");
    }
  }
  return out + ")";
}

absl::StatusOr<std::string> RowSql(absl::string_view text, absl::string_view alias) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" ", why));
  };
  if (absl::StrContains(text, ';')) return bad("must be one expression, without ';'");
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '}') return bad("has a '}' without '{'");
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    size_t close = text.find('}', i);
    if (close == absl::string_view::npos) return bad("has an unclosed '{'");
    absl::string_view column = text.substr(i + 1, close - i - 1);
    if (!IsIdentifier(column)) return bad(absl::StrCat("{", column, "} is not a column name"));
    absl::StrAppend(&out, alias, ".", db::QuoteIdent(column));
    i = close + 1;
  }
  if (out.find_first_not_of(" \t\n") == std::string::npos) return bad("is empty");
  return "(" + out + ")";
}

namespace {

// ARRAY['a', 'b']::text[], each element quoted.
std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "ARRAY[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += '\'';
    for (char c : values[i]) {
      if (c == '\'') out += '\'';
      out += c;
    }
    out += '\'';
  }
  return out + "]::text[]";
}

}  // namespace

bool Scoped(const ReplicableSpec& spec, const SelectiveSync& sel) {
  switch (sel.kind) {
    case SelectiveSync::Kind::kNone:
      return false;
    case SelectiveSync::Kind::kNamespaces:
      return !spec.namespace_sql.empty();
    case SelectiveSync::Kind::kShards:
      return !spec.shard_sql.empty();
  }
  return false;
}

std::string ScopeSql(const ReplicableSpec& spec, const SelectiveSync& sel,
                     absl::string_view alias) {
  if (!Scoped(spec, sel)) return "true";
  if (sel.kind == SelectiveSync::Kind::kNamespaces) {
    // The item's namespace is a selected one or beneath one.
    auto ns = RowSql(spec.namespace_sql, alias);
    if (!ns.ok()) return "false";  // ValidateSpec refused it already
    std::string arr = TextArrayLiteral(sel.namespaces);
    return absl::StrCat("(SELECT scope_ns IS NULL OR scope_ns = ANY(", arr,
                        ") OR EXISTS (SELECT 1 FROM unnest(", arr,
                        ") AS scope_sel(p) WHERE starts_with(scope_ns, scope_sel.p || '/')) "
                        "FROM (SELECT (",
                        *ns, ")::text AS scope_ns) AS scope_row)");
  }
  auto shard = RowSql(spec.shard_sql, alias);
  if (!shard.ok()) return "false";
  return absl::StrCat("(SELECT scope_shard IS NULL OR scope_shard = ANY(",
                      TextArrayLiteral(sel.shards), ") FROM (SELECT (", *shard,
                      ")::text AS scope_shard) AS scope_row)");
}

absl::Status CheckScopeSql(db::Connection& main, const ReplicableSpec& spec) {
  if (spec.namespace_sql.empty() && spec.shard_sql.empty()) return absl::OkStatus();
  auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return absl::OkStatus();
  for (const auto& [key, sel] :
       {std::pair<const char*, SelectiveSync>{"namespace_sql",
                                              {SelectiveSync::Kind::kNamespaces, {"x"}, {}}},
        {"shard_sql", {SelectiveSync::Kind::kShards, {}, {"x"}}}}) {
    if (!Scoped(spec, sel)) continue;
    auto planned = main.Exec(SpecSql(
        spec, absl::StrCat("EXPLAIN SELECT m.$ID FROM $MODEL m WHERE ", ScopeSql(spec, sel, "m"))));
    if (!planned.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("replicable \"", spec.name, "\" (",
                                                     spec.origin, "): ", key, ": ",
                                                     planned.status().message()));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status RefusedPath(absl::string_view relative, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("path \"", relative, "\" refused: ", why));
}

// The refusals of a relative path that need no file system.
absl::Status CheckRelative(absl::string_view relative) {
  if (relative.empty()) return RefusedPath(relative, "empty");
  if (relative.find('\0') != absl::string_view::npos) return RefusedPath(relative, "contains NUL");
  if (relative.front() == '/') return RefusedPath(relative, "absolute");
  for (absl::string_view seg : absl::StrSplit(relative, '/')) {
    if (seg.empty() || seg == "." || seg == "..")
      return RefusedPath(relative, "empty, \".\" or \"..\" segment");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ItemLocation(const ReplicableSpec& spec,
                                         const std::string& storage_root,
                                         const std::string& repository_root,
                                         absl::string_view relative) {
  if (spec.strategy == Strategy::kBlob) {
    if (auto store = ObjectStore()) {
      if (auto s = CheckRelative(relative); !s.ok()) return s;
      return ObjectPath(*store, relative);
    }
  }
  return ConfinedPath(RootOf(spec, storage_root, repository_root), relative);
}

absl::StatusOr<std::string> ConfinedPath(const std::string& root, absl::string_view relative) {
  if (auto s = CheckRelative(relative); !s.ok()) return s;
  std::string path = root;
  std::vector<absl::string_view> segments = absl::StrSplit(relative, '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    absl::string_view seg = segments[i];
    absl::StrAppend(&path, "/", seg);
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      return RefusedPath(relative, "symbolic link inside the storage root");
  }
  return path;
}

}  // namespace georep::framework
