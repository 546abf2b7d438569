// What a replicable type is: the one declaration that gives a kind of data
// everything else (event publishing, registry table, backfill, sync and
// verification workers, status counts, metrics, API routes, CLI verbs).
//
// A type is declared either in C++ (one short file under src/replicators/,
// deriving BlobType or RepositoryType) or in a site's TOML configuration ([[replicable]]); both
// become the same ReplicableSpec and run the same machinery.
//
//   struct PackageFile : BlobType {
//     static constexpr std::string_view kName = "package_file";
//     static constexpr std::string_view kTitle = "Package file";
//     static constexpr std::string_view kModelTable = "sample.package_files";
//     static constexpr std::string_view kPathTemplate = "{file_path}";
//   };
#pragma once

#include <concepts>
#include <string>
#include <string_view>

namespace georep {

enum class Strategy { kBlob, kRepository };

// The names a `[[replicable]]` block's `strategy` takes.
constexpr const char* StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kBlob:
      return "blob";
    case Strategy::kRepository:
      return "repository";
  }
  return "";
}
inline constexpr Strategy kStrategies[] = {Strategy::kBlob, Strategy::kRepository};

struct ReplicableSpec {
  std::string name;   // lower_snake_case: tables, metrics, API, CLI
  std::string title;  // for people (admin page)
  Strategy strategy = Strategy::kBlob;
  std::string model_table;  // the application's table, optionally schema-qualified
  // The model table's primary key: an integer column (smallint, integer or
  // bigint; Georep's own tables keep it as bigint).
  std::string id_column = "id";
  // Where the bytes live, relative to the storage root (blobs) or the
  // repository root (repositories): literal text and {column} placeholders of
  // the model row, e.g. "attachments/{owner_id}/{id}.bin" or "{path}.wiki.git".
  // A segment in [brackets] is optional: it is left out when one of its
  // columns is NULL or empty ("[{disk_directory}/]{disk_filename}").
  // Either this or path_sql.
  std::string path_template;
  std::string origin;  // "built-in" or the config file that declared it
  // Selective sync (georep/selective_sync.h), both optional: SQL expressions
  // over the model row, whose columns are written {column} as in path
  // templates, giving the full path of the namespace the item belongs to
  // (text, e.g. "group/subgroup") and the shard (repository storage name)
  // it lives on. NULL, or no expression, puts the item in every selection.
  //   namespace_sql = "(SELECT n.path FROM sample.namespaces n WHERE n.id = {namespace_id})"
  std::string namespace_sql;
  std::string shard_sql;
  // The path as one SQL expression over the model row, {column} written as
  // in namespace_sql, for what a template cannot say, e.g.
  //   path_sql = "'@hashed/' || encode(sha256({id}::text::bytea), 'hex')"
  // Either this or path_template.
  std::string path_sql;
  // The application's own checksum of the bytes, if it keeps one (blobs
  // only): a column of the model row holding the hex digest, and its
  // algorithm ("sha256", the only one for now). The primary takes a valid
  // digest as its checksum and reads the bytes at the re-verification pace;
  // a row whose column is NULL or not such a digest is hashed as usual.
  std::string checksum_column;
  std::string checksum_algorithm;
};

// Strategy bases. A C++ replicable derives one and adds constants.
struct BlobType {
  static constexpr Strategy kStrategy = Strategy::kBlob;
  static constexpr std::string_view kIdColumn = "id";
};

// A bare Git repository; the path template names its folder and ends in ".git".
struct RepositoryType {
  static constexpr Strategy kStrategy = Strategy::kRepository;
  static constexpr std::string_view kIdColumn = "id";
};

// The contract of a C++ replicable type.
template <typename T>
concept ReplicableType = requires {
  { T::kName } -> std::convertible_to<std::string_view>;
  { T::kTitle } -> std::convertible_to<std::string_view>;
  { T::kModelTable } -> std::convertible_to<std::string_view>;
  { T::kIdColumn } -> std::convertible_to<std::string_view>;
  { T::kPathTemplate } -> std::convertible_to<std::string_view>;
  { T::kStrategy } -> std::convertible_to<Strategy>;
};

// Optional constants: kNamespaceSql, kShardSql and kChecksumColumn (a SHA-256
// digest; ReplicableSpec).
template <ReplicableType T>
ReplicableSpec SpecOf() {
  ReplicableSpec spec{std::string(T::kName),
                      std::string(T::kTitle),
                      T::kStrategy,
                      std::string(T::kModelTable),
                      std::string(T::kIdColumn),
                      std::string(T::kPathTemplate),
                      "built-in"};
  if constexpr (requires { T::kNamespaceSql; }) spec.namespace_sql = std::string(T::kNamespaceSql);
  if constexpr (requires { T::kShardSql; }) spec.shard_sql = std::string(T::kShardSql);
  if constexpr (requires { T::kChecksumColumn; }) {
    spec.checksum_column = std::string(T::kChecksumColumn);
    spec.checksum_algorithm = "sha256";
  }
  return spec;
}

}  // namespace georep
