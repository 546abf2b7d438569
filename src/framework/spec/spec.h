// Replicable specs: validation, the built-in list, and path templates.
//
// A path template ("attachments/{owner_id}/{id}.bin") is rendered in SQL,
// from the model row, by the one expression PathSql() builds: the primary's
// publish triggers, its retrieve endpoint and the secondary's sync all use
// it, so the three can never disagree on where a file lives.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/connection.h"
#include "georep/replicable.h"
#include "georep/selective_sync.h"

namespace georep::framework {

class BlobStore;  // storage/blob_store.h

struct PathTemplate {
  struct Part {
    bool column;        // a {column} placeholder, else literal text
    std::string text;   // column name or literal
    int optional = -1;  // the [optional segment] it is in (0, 1, …), or -1
  };
  std::vector<Part> parts;
};

absl::StatusOr<PathTemplate> ParsePathTemplate(absl::string_view text);

// Checks names, identifiers and the template; messages name the spec.
absl::Status ValidateSpec(const ReplicableSpec& spec);

// The replicables compiled into this binary (src/replicators/, generated list).
std::vector<ReplicableSpec> BuiltinReplicables();

// Built-ins plus declared ones, validated, names unique, in a stable order.
absl::StatusOr<std::vector<ReplicableSpec>> ResolveSpecs(std::vector<ReplicableSpec> declared);

// SQL text evaluating to the relative path of the row `alias` (e.g. "NEW",
// "m"), from the spec's path_template or path_sql: NULL if a column of the
// template outside an optional segment is NULL.
std::string PathSql(const ReplicableSpec& spec, absl::string_view alias);
// An SQL expression over the model row `alias` from a declaration's
// namespace_sql or shard_sql: each {column} becomes alias."column".
// InvalidArgument for a stray brace, a placeholder that is not a column name,
// or a ';'.
absl::StatusOr<std::string> RowSql(absl::string_view text, absl::string_view alias);
// Whether selection `sel` leaves out some items of `spec`: it is active and
// the replicable declares a mapping for its kind.
bool Scoped(const ReplicableSpec& spec, const SelectiveSync& sel);
// The SQL predicate over the model row `alias` that holds when the item is
// in `sel` (georep/selective_sync.h): "true" when !Scoped(spec, sel). The
// backfill, the log cursor, Git on a secondary and the data-loss report all
// use it, so they agree on what a secondary holds.
std::string ScopeSql(const ReplicableSpec& spec, const SelectiveSync& sel, absl::string_view alias);
// Whether the database accepts what the spec says of its model table (a
// declaration is only checked for shape when the file is read): the id
// column is an integer column; the path (template or path_sql), the
// checksum column, namespace_sql and shard_sql are each planned (EXPLAIN)
// against `main`. InvalidArgument names the replicable, its origin, the key
// and PostgreSQL's message; OK when the model table is not there (nothing to
// check).
absl::Status CheckDeclaredSql(db::Connection& main, const ReplicableSpec& spec);
// The SQL expression giving the application's checksum of row `alias` when
// the spec declares a checksum column: the column's value, lower-cased, when
// it is a digest of the declared algorithm (64 hex digits for SHA-256), else
// NULL. "NULL" when the spec declares none.
std::string AppChecksumSql(const ReplicableSpec& spec, absl::string_view alias);
// `schema.table` quoted for SQL.
std::string QuotedTable(const ReplicableSpec& spec);
std::string QuotedIdColumn(const ReplicableSpec& spec);
// georep.<name>_registry in the tracking DB.
std::string RegistryTable(const ReplicableSpec& spec);
// georep.<name>_states in the main DB.
std::string StatesTable(const ReplicableSpec& spec);
// `text` with $REG, $STATES, $NAME, $MODEL and $ID replaced by the spec's
// registry table, states table, name, quoted model table and id column, and
// the states' tokens ($S_SYNCED, $V_SUCCEEDED …, framework/spec/states.h) by
// their numbers.
std::string SpecSql(const ReplicableSpec& spec, absl::string_view text);

// Removes this site's copy of an item at `location`: a blob from its store
// (storage/blob_store.h), a repository's folder from beneath the repository
// root without following a symbolic link on the way or inside it
// (RemoveBeneath). A location outside them, or reached through a link, is
// left alone and logged; a missing copy is not an error.
void RemoveLocalCopy(const ReplicableSpec& spec, const BlobStore& blobs,
                     const std::string& repository_root, const std::string& location);

// root/relative, refusing an empty, absolute or NUL-containing path, "." or
// ".." segments, and any symbolic link between root and the file, so a row can
// never make Georep read or write outside its storage root.
absl::StatusOr<std::string> ConfinedPath(const std::string& root, absl::string_view relative);

// Where the item whose model row names `relative` is on this site: a blob's
// location in the site's store (BlobStore::Locate), a repository's folder
// (ConfinedPath under the repository root).
absl::StatusOr<std::string> ItemLocation(const ReplicableSpec& spec, const BlobStore& blobs,
                                         const std::string& repository_root,
                                         absl::string_view relative);

}  // namespace georep::framework
