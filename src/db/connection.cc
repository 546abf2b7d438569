#include "db/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace georep::db {

Result::Result(pg_result* res) : res_(res) {}
Result::Result(Result&& other) noexcept : res_(other.res_) { other.res_ = nullptr; }
Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (res_) PQclear(res_);
    res_ = other.res_;
    other.res_ = nullptr;
  }
  return *this;
}
Result::~Result() {
  if (res_) PQclear(res_);
}
int Result::rows() const { return PQntuples(res_); }
int Result::columns() const { return PQnfields(res_); }
bool Result::IsNull(int row, int col) const { return PQgetisnull(res_, row, col) == 1; }
absl::string_view Result::Get(int row, int col) const {
  return absl::string_view(PQgetvalue(res_, row, col),
                           static_cast<size_t>(PQgetlength(res_, row, col)));
}
int64_t Result::GetInt64(int row, int col) const {
  int64_t v = 0;
  if (!IsNull(row, col)) (void)absl::SimpleAtoi(Get(row, col), &v);
  return v;
}
double Result::GetDouble(int row, int col) const {
  double v = 0;
  if (!IsNull(row, col)) (void)absl::SimpleAtod(Get(row, col), &v);
  return v;
}
bool Result::GetBool(int row, int col) const { return !IsNull(row, col) && Get(row, col) == "t"; }
int64_t Result::affected_rows() const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(res_), &v);
  return v;
}

std::string RedactConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    if (err) PQfreemem(err);
    return "(unparsable conninfo)";
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::strcmp(o->keyword, "password") == 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : " ", o->keyword, "=", o->val);
  }
  PQconninfoFree(opts);
  return out;
}

absl::Status EnsureOpen(std::unique_ptr<Connection>& conn, const std::string& conninfo,
                        absl::string_view setup) {
  if (conn) return absl::OkStatus();
  auto opened = Connection::Open(conninfo);
  if (!opened.ok()) return opened.status();
  if (!setup.empty()) {
    if (auto r = (*opened)->Exec(setup); !r.ok()) return r.status();
  }
  conn = std::move(*opened);
  return absl::OkStatus();
}

Connection* ThreadConnection(const std::string& conninfo) {
  thread_local std::map<std::string, std::unique_ptr<Connection>> conns;
  auto& c = conns[conninfo];
  return EnsureOpen(c, conninfo).ok() ? c.get() : nullptr;
}

std::string BigintArray(const std::vector<int64_t>& ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string QuoteConninfoValue(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string ConninfoValue(const std::string& conninfo, const std::string& key) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return "";
  std::string value;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (key == o->keyword && o->val != nullptr) value = o->val;
  }
  PQconninfoFree(options);
  return value;
}

std::string QuoteIdent(absl::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo,
                                                             bool under_fence) {
  std::string display = RedactConninfo(conninfo);
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err ? std::string(absl::StripTrailingAsciiWhitespace(err)) : "invalid";
    if (err) PQfreemem(err);
    return absl::InvalidArgumentError(absl::StrCat("bad database conninfo: ", msg));
  }
  PQconninfoFree(parsed);
  // connect_timeout first, so a value inside the conninfo overrides it.
  // Georep's sessions are named "georep" unless the conninfo names them:
  // the database fence (site/fence.h) ends every session but these.
  const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"5", "georep", conninfo.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq spreads one error over several indented lines; keep it to one.
    std::string msg(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn)));
    absl::StrReplaceAll({{"\n\t", " "}, {"\n", "; "}}, &msg);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect to database (", display, "): ", msg));
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<Connection> opened(new Connection(conn, std::move(display)));
  if (!under_fence && ConninfoValue(conninfo, "replication").empty()) {
    if (auto r = opened->Exec("SET default_transaction_read_only = off"); !r.ok()) {
      return r.status();
    }
  }
  return opened;
}

Connection::~Connection() { PQfinish(conn_); }

absl::StatusOr<bool> Connection::WaitForNotification(double seconds) {
  auto drain = [this]() {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      PQfreemem(n);
      any = true;
    }
    return any;
  };
  if (PQconsumeInput(conn_) == 0) {
    return absl::UnavailableError(
        absl::StrCat(display_, ": ", absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_))));
  }
  if (drain()) return true;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  int rc = poll(&pfd, 1, static_cast<int>(seconds * 1000));
  if (rc < 0 && errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
  if (rc <= 0) return false;
  if (PQconsumeInput(conn_) == 0) {
    return absl::UnavailableError(
        absl::StrCat(display_, ": ", absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_))));
  }
  return drain();
}

absl::Status Connection::ErrorFromResult(pg_result* res, absl::string_view sql) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg(
      absl::StripTrailingAsciiWhitespace(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_)));
  if (msg.empty()) msg = std::string(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_)));
  absl::StrReplaceAll({{"ERROR:  ", ""}}, &msg);
  // The first line says what went wrong; the rest quotes the SQL.
  if (size_t nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  std::string code = state ? state : "";
  std::string text = absl::StrCat(msg, " [", display_, "]");
  if (PQstatus(conn_) != CONNECTION_OK || code.starts_with("08") || code == "57P01") {
    return absl::UnavailableError(text);
  }
  if (code == "25006") return absl::FailedPreconditionError(text);  // read-only transaction
  if (code.starts_with("22") || code.starts_with("23") || code == "P0001") {
    return absl::InvalidArgumentError(text);
  }
  if (code == "40001" || code == "40P01" || code == "55P03") return absl::AbortedError(text);
  if (code == "42710") return absl::AlreadyExistsError(text);  // duplicate object
  return absl::InternalError(text);
}

absl::StatusOr<Result> Connection::Exec(absl::string_view sql, const Params& params) {
  if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
  std::string query(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pg_result* res = PQexecParams(conn_, query.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status s = ErrorFromResult(res, sql);
    if (res) PQclear(res);
    return s;
  }
  return Result(res);
}

absl::StatusOr<Result> Connection::Query(absl::string_view sql) {
  if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
  std::string query(sql);
  pg_result* res = PQexec(conn_, query.c_str());
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status s = ErrorFromResult(res, sql);
    if (res) PQclear(res);
    return s;
  }
  return Result(res);
}

absl::Status Connection::ExecScript(absl::string_view sql) { return Query(sql).status(); }

absl::StatusOr<bool> Connection::InRecovery() {
  auto r = Exec("SELECT pg_is_in_recovery()");
  if (!r.ok()) return r.status();
  return r->GetBool(0, 0);
}

}  // namespace georep::db
