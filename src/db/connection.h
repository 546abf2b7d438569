// A PostgreSQL connection (libpq). The only code that knows the driver.
//
// A Connection is used by one thread at a time. Errors come back as
// absl::Status: Unavailable when the server cannot be reached (retry),
// FailedPrecondition for read-only standbys, InvalidArgument for bad SQL
// input, Internal otherwise. Messages name the database by its conninfo
// with any password removed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct pg_conn;
struct pg_result;

namespace georep::db {

// Query parameters: text values, nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

class Result {
 public:
  explicit Result(pg_result* res);
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  ~Result();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int col) const;
  absl::string_view Get(int row, int col) const;  // "" for NULL
  int64_t GetInt64(int row, int col) const;       // 0 for NULL
  double GetDouble(int row, int col) const;       // 0 for NULL
  bool GetBool(int row, int col) const;           // false for NULL
  int64_t affected_rows() const;                  // for INSERT/UPDATE/DELETE

 private:
  pg_result* res_;
};

class Connection {
 public:
  // Connects; `conninfo` is a libpq key=value string or URI. A connect
  // timeout of 5 s applies unless the conninfo sets one. The session is
  // named "georep" (unless the conninfo names it) and, unless
  // `under_fence` or it is a replication connection, sets
  // default_transaction_read_only off: the database fence (site/fence.h)
  // binds the application, not Georep. `under_fence` opens a session as
  // any other client would get one (the fence's probe).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& conninfo,
                                                          bool under_fence = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with $1..$n parameters.
  absl::StatusOr<Result> Exec(absl::string_view sql, const Params& params = {});
  // Several statements, no parameters (migrations).
  absl::Status ExecScript(absl::string_view sql);
  // One command in the simple query protocol, no parameters: what a
  // replication connection (replication=true) accepts, e.g. IDENTIFY_SYSTEM.
  absl::StatusOr<Result> Query(absl::string_view sql);

  // After `LISTEN channel`: waits up to `seconds` for a notification (or
  // returns at once if one arrived meanwhile); true if any came. Drains them.
  absl::StatusOr<bool> WaitForNotification(double seconds);

  // True if the server is a standby in recovery (read-only).
  absl::StatusOr<bool> InRecovery();

  // Conninfo without password, for messages.
  const std::string& display_name() const { return display_; }

 private:
  Connection(pg_conn* conn, std::string display) : conn_(conn), display_(std::move(display)) {}
  absl::Status ErrorFromResult(pg_result* res, absl::string_view sql);

  pg_conn* conn_;
  std::string display_;
};

// Opens `conn` if it is not open (after an error the caller resets it), then
// runs `setup` (e.g. "SET synchronous_commit = off") on a new connection.
absl::Status EnsureOpen(std::unique_ptr<Connection>& conn, const std::string& conninfo,
                        absl::string_view setup = "");

// A connection to `conninfo` owned by the calling thread (HTTP handlers);
// nullptr if it cannot be opened.
Connection* ThreadConnection(const std::string& conninfo);

// {1,2,3}: a bigint[] parameter.
std::string BigintArray(const std::vector<int64_t>& ids);
// {"a","b\"c"}: a text[] parameter (every element quoted and escaped).
std::string TextArray(const std::vector<std::string>& values);

// The conninfo with any password removed (for logs and errors).
std::string RedactConninfo(const std::string& conninfo);

// A conninfo value quoted for a key=value string ('…', with \ and ' escaped).
std::string QuoteConninfoValue(absl::string_view value);
// The value of `key` in a conninfo (key=value or URI); empty if not set or
// the conninfo cannot be parsed.
std::string ConninfoValue(const std::string& conninfo, const std::string& key);

// Quotes an identifier for SQL ("name" with embedded quotes doubled).
std::string QuoteIdent(absl::string_view ident);

// How a transaction begins. kReadWrite asks for a read-write transaction
// explicitly: a session that began under the database fence
// (site/fence.h) defaults to read-only, and Georep's own writes that must
// pass it (promotion, lifting the fence) say so.
enum class TransactionMode { kDefault, kReadWrite };

// Runs `fn` inside BEGIN/COMMIT; rolls back if it returns an error.
template <typename Fn>
absl::Status InTransaction(Connection& conn, Fn&& fn,
                           TransactionMode mode = TransactionMode::kDefault) {
  if (auto r = conn.Exec(mode == TransactionMode::kReadWrite ? "BEGIN READ WRITE" : "BEGIN");
      !r.ok())
    return r.status();
  absl::Status s = fn();
  if (!s.ok()) {
    (void)conn.Exec("ROLLBACK");
    return s;
  }
  if (auto r = conn.Exec("COMMIT"); !r.ok()) return r.status();
  return absl::OkStatus();
}

}  // namespace georep::db
