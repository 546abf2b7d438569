#include "framework/spec/spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "db/connection.h"
#include "framework/spec/states.h"
#include "framework/storage/blob_store.h"
#include "framework/sync/strategy.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/validate.h"

namespace georep::framework {
namespace {

bool IsIdentifier(absl::string_view s) { return IsLowerIdentifier(s, 63); }

}  // namespace

absl::StatusOr<PathTemplate> ParsePathTemplate(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("path template \"", text, "\"", why));
  };
  PathTemplate t;
  bool has_column = false;
  int groups = 0;
  int group = -1;  // the optional segment being read
  bool group_has_column = false;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.parts.push_back({false, literal, group});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '}') return bad(" has a '}' without '{'");
    if (c == ']') {
      if (group < 0) return bad(" has a ']' without '['");
      if (!group_has_column) return bad(" has an optional segment [...] without a {column}");
      flush();
      group = -1;
      continue;
    }
    if (c == '[') {
      if (group >= 0) return bad(" nests an optional segment [...] in another");
      flush();
      group = groups++;
      group_has_column = false;
      continue;
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    size_t close = text.find('}', i);
    if (close == absl::string_view::npos) return bad(" has an unclosed '{'");
    absl::string_view column = text.substr(i + 1, close - i - 1);
    if (!IsIdentifier(column)) return bad(absl::StrCat(": {", column, "} is not a column name"));
    flush();
    t.parts.push_back({true, std::string(column), group});
    has_column = true;
    group_has_column |= group >= 0;
    i = close;
  }
  if (group >= 0) return bad(" has an unclosed '['");
  flush();
  if (!has_column) return bad(" names no {column}, so every row would share one file");
  for (const auto& p : t.parts) {
    if (p.column) continue;
    if (p.text.find('\0') != std::string::npos || absl::StrContains(p.text, "..") ||
        (&p == &t.parts.front() && !p.text.empty() && p.text[0] == '/')) {
      return bad(" must be relative, without \"..\"");
    }
  }
  return t;
}

void RemoveLocalCopy(const ReplicableSpec& spec, const BlobStore& blobs,
                     const std::string& repository_root, const std::string& location) {
  if (location.empty()) return;
  absl::Status s;
  if (!DescriptorOf(spec).under_repository_root) {
    s = blobs.Remove(location);
  } else {
    std::string prefix = repository_root;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    prefix += '/';
    s = repository_root.empty() || !absl::StartsWith(location, prefix)
            ? absl::PermissionDeniedError(absl::StrCat("not beneath ", repository_root))
            : RemoveBeneath(repository_root, absl::string_view(location).substr(prefix.size()),
                            DescriptorOf(spec).copy_is_tree);
  }
  if (!s.ok()) {
    log::Warn("local copy not removed",
              {{"replicable", spec.name}, {"path", location}, {"error", std::string(s.message())}});
  }
}

absl::Status ValidateSpec(const ReplicableSpec& spec) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicable \"", spec.name, "\" (", spec.origin, "): ", what));
  };
  if (!IsLowerIdentifier(spec.name, 41, /*leading_underscore=*/false))
    return bad("name must be lower_snake_case, at most 41 characters");
  absl::string_view table = spec.model_table;
  if (size_t dot = table.find('.'); dot != absl::string_view::npos) {
    if (!IsIdentifier(table.substr(0, dot))) table = "";
    table.remove_prefix(std::min(table.size(), dot + 1));
  }
  if (!IsIdentifier(table)) {
    return bad(
        absl::StrCat("table \"", spec.model_table, "\" is not [schema.]table in lower case"));
  }
  if (!IsIdentifier(spec.id_column))
    return bad(absl::StrCat("id column \"", spec.id_column, "\" is not a column name"));
  if (spec.path_template.empty() == spec.path_sql.empty())
    return bad("give the path by path_template or by path_sql, not both");
  if (!spec.path_template.empty()) {
    auto t = ParsePathTemplate(spec.path_template);
    if (!t.ok()) return bad(t.status().message());
  }
  for (auto [key, text] :
       {std::pair<const char*, const std::string*>{"namespace_sql", &spec.namespace_sql},
        {"shard_sql", &spec.shard_sql},
        {"path_sql", &spec.path_sql}}) {
    if (text->empty()) continue;
    if (auto r = RowSql(*text, "m"); !r.ok())
      return bad(absl::StrCat(key, ": ", r.status().message()));
  }
  // The path is evaluated in the publish triggers' bodies, quoted $fn$.
  if (absl::StrContains(spec.path_sql, "$fn$")) return bad("path_sql: must not contain \"$fn$\"");
  absl::string_view suffix = DescriptorOf(spec).path_suffix;
  if (!spec.path_template.empty() && !absl::EndsWith(spec.path_template, suffix)) {
    return bad(absl::StrCat("a ", StrategyName(spec.strategy), "'s path template must end in \"",
                            suffix, "\""));
  }
  if (spec.checksum_column.empty() != spec.checksum_algorithm.empty()) {
    return bad(spec.checksum_column.empty() ? "checksum_algorithm without checksum_column"
                                            : "checksum_column without checksum_algorithm");
  }
  if (!spec.checksum_column.empty()) {
    if (!IsIdentifier(spec.checksum_column)) {
      return bad(
          absl::StrCat("checksum_column \"", spec.checksum_column, "\" is not a column name"));
    }
    const char* own = DescriptorOf(spec).content_checksum;
    if (own == nullptr) {
      return bad(absl::StrCat("a ", StrategyName(spec.strategy),
                              "'s checksum is Georep's own, so it takes no checksum_column"));
    }
    if (spec.checksum_algorithm != own) {
      return bad(absl::StrCat("checksum_algorithm \"", spec.checksum_algorithm,
                              "\" is not supported (only \"", own, "\")"));
    }
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
  if (!spec.path_sql.empty()) return absl::StrCat("(", *RowSql(spec.path_sql, alias), "::text)");
  auto t = ParsePathTemplate(spec.path_template);
  // Terms joined by ||: an optional segment is one term, coalesce(…, ''),
  // whose columns are NULL when empty so that the whole segment is.
  std::vector<std::string> terms;
  int open_group = -1;
  std::string group;
  auto close_group = [&] {
    if (open_group >= 0) terms.push_back(absl::StrCat("coalesce(", group, ", '')"));
    open_group = -1;
    group.clear();
  };
  for (const auto& p : t->parts) {
    std::string term;
    if (p.column) {
      term = absl::StrCat(alias, ".", db::QuoteIdent(p.text), "::text");
      if (p.optional >= 0) term = absl::StrCat("nullif(", term, ", '')");
    } else {
      term = "'";
      for (char c : p.text) {
        if (c == '\'') term += '\'';
        term += c;
      }
      term += "'";
    }
    if (p.optional != open_group) close_group();
    if (p.optional < 0) {
      terms.push_back(std::move(term));
      continue;
    }
    open_group = p.optional;
    absl::StrAppend(&group, group.empty() ? "" : " || ", term);
  }
  close_group();
  return absl::StrCat("(", absl::StrJoin(terms, " || "), ")");
}

std::string AppChecksumSql(const ReplicableSpec& spec, absl::string_view alias) {
  if (spec.checksum_column.empty()) return "NULL";
  // SHA-256, the one algorithm ValidateSpec lets through: 64 hex digits.
  std::string v =
      absl::StrCat("lower(", alias, ".", db::QuoteIdent(spec.checksum_column), "::text)");
  return absl::StrCat("(CASE WHEN ", v, " ~ '^[0-9a-f]{64}$' THEN ", v, " END)");
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

absl::Status CheckDeclaredSql(db::Connection& main, const ReplicableSpec& spec) {
  auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return absl::OkStatus();
  auto refused = [&](absl::string_view key, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicable \"", spec.name, "\" (", spec.origin, "): ", key, ": ", why));
  };
  auto id_type = main.Exec(
      "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass "
      "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
      {spec.model_table, spec.id_column});
  if (!id_type.ok()) return id_type.status();
  if (id_type->rows() == 0)
    return refused("id_column",
                   absl::StrCat(spec.model_table, " has no column \"", spec.id_column, "\""));
  std::string type(id_type->Get(0, 0));
  if (type != "smallint" && type != "integer" && type != "bigint") {
    return refused("id_column",
                   absl::StrCat("\"", spec.id_column, "\" of ", spec.model_table, " is ", type,
                                "; an id must be an integer column (smallint, integer or bigint)"));
  }
  // The path as the publish triggers evaluate it: search_path pg_catalog, so
  // a table path_sql reads without its schema is found here, not at the
  // first insert.
  auto qualified = main.Exec(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON "
      "n.oid = c.relnamespace WHERE c.oid = $1::regclass",
      {spec.model_table});
  if (!qualified.ok()) return qualified.status();
  std::string path_key = spec.path_sql.empty() ? "path_template" : "path_sql";
  absl::Status path_planned = db::InTransaction(main, [&]() -> absl::Status {
    if (auto r = main.Exec("SET LOCAL search_path = pg_catalog, pg_temp"); !r.ok())
      return r.status();
    return main
        .Exec(absl::StrCat("EXPLAIN SELECT ", PathSql(spec, "m"), " FROM ", qualified->Get(0, 0),
                           " m"))
        .status();
  });
  if (!path_planned.ok()) return refused(path_key, path_planned.message());
  std::vector<std::pair<std::string, std::string>> planned;
  if (!spec.checksum_column.empty()) {
    planned.push_back(
        {"checksum_column", absl::StrCat("SELECT ", AppChecksumSql(spec, "m"), " FROM $MODEL m")});
  }
  for (const auto& [key, sel] :
       {std::pair<const char*, SelectiveSync>{"namespace_sql",
                                              {SelectiveSync::Kind::kNamespaces, {"x"}, {}}},
        {"shard_sql", {SelectiveSync::Kind::kShards, {}, {"x"}}}}) {
    if (!Scoped(spec, sel)) continue;
    planned.push_back(
        {key, absl::StrCat("SELECT m.$ID FROM $MODEL m WHERE ", ScopeSql(spec, sel, "m"))});
  }
  for (const auto& [key, sql] : planned) {
    auto r = main.Exec(SpecSql(spec, "EXPLAIN " + sql));
    if (!r.ok()) return refused(key, r.status().message());
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

absl::StatusOr<std::string> ItemLocation(const ReplicableSpec& spec, const BlobStore& blobs,
                                         const std::string& repository_root,
                                         absl::string_view relative) {
  if (DescriptorOf(spec).under_repository_root) return ConfinedPath(repository_root, relative);
  return blobs.Locate(relative);
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
