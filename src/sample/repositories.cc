// The sample forge's Git side: namespaces (groups, each with a wiki),
// projects (a repository, a wiki and a design repository each) and snippets
// (one repository each). Repositories are created on disk before the row
// commits, like the blob files, so a replicated row always has its
// repository on the primary.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/write_gate.h"
#include "framework/spec/spec.h"
#include "git/repository.h"
#include "nlohmann/json.hpp"
#include "sample/sample.h"
#include "util/fs.h"
#include "util/validate.h"

namespace georep::sample {
namespace fs = std::filesystem;
namespace {

// At most 21 segments (20 groups and the name) of at most 255 characters;
// the name at most 244, so that "<name>.design.git" is a file name too.
constexpr size_t kMaxPathSegments = 21;
constexpr size_t kMaxSegment = 255;
constexpr size_t kMaxName = 255 - std::char_traits<char>::length(".design.git");

// A group segment: letters, digits, '-' and '_', with single dots inside.
bool IsGroupSegment(absl::string_view s) {
  if (!IsName(s, kMaxSegment, "._-") || s.back() == '.') return false;
  return s.find("..") == absl::string_view::npos;
}

}  // namespace

absl::Status CheckProjectPath(const std::string& path) {
  bool ok = IsSlashPath(path, kMaxPathSegments, kMaxSegment, "._-");
  size_t last = path.rfind('/');
  ok = ok && last != std::string::npos &&
       IsName(absl::string_view(path).substr(last + 1), kMaxName, "_-");
  for (absl::string_view rest(path); ok && rest.find('/') != absl::string_view::npos;) {
    size_t slash = rest.find('/');
    ok = IsGroupSegment(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "project path \"", Excerpt(path),
        "\" must be <group>[/<subgroup>…]/<name>, at most 20 groups: letters, digits, '-' and "
        "'_' (and single '.' inside a group), at most 255 characters each (the name 244)"));
  }
  return absl::OkStatus();
}

namespace {

// The repositories of a project at `path`, relative to the repository root.
std::vector<std::string> ProjectRepositories(const std::string& path) {
  return {path + ".git", path + ".wiki.git", path + ".design.git"};
}

absl::Status CheckStorage(const std::string& storage) {
  if (!IsName(storage, 63)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage \"", Excerpt(storage), "\" must be 1 to 63 letters, digits, '.', '_' or '-'"));
  }
  return absl::OkStatus();
}

// The group of a project path: everything before its last '/'.
std::string GroupOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

// The namespace row of `group` ("a" or "a/b"), created (with its wiki
// repository, and its parents first) if new.
absl::StatusOr<int64_t> EnsureNamespace(db::Connection& main, const std::string& root,
                                        const std::string& group,
                                        std::vector<std::string>* created) {
  auto found = main.Exec("SELECT id FROM sample.namespaces WHERE path = $1", {group});
  if (!found.ok()) return found.status();
  if (found->rows() > 0) return found->GetInt64(0, 0);
  std::string parent;
  if (size_t slash = group.rfind('/'); slash != std::string::npos) {
    auto p = EnsureNamespace(main, root, group.substr(0, slash), created);
    if (!p.ok()) return p.status();
    parent = absl::StrCat(*p);
  }
  auto wiki = framework::ConfinedPath(root, group + ".wiki.git");
  if (!wiki.ok()) return wiki.status();
  if (auto s = git::InitBare(*wiki); !s.ok()) return s;
  created->push_back(*wiki);
  auto r = main.Exec(
      "INSERT INTO sample.namespaces (path, parent_id) VALUES ($1, nullif($2, '')::bigint) "
      "RETURNING id",
      {group, parent});
  if (!r.ok()) return r.status();
  return r->GetInt64(0, 0);
}

void RemoveAll(const std::vector<std::string>& dirs) {
  std::error_code ec;
  for (const auto& d : dirs) fs::remove_all(d, ec);
}

}  // namespace

absl::Status InstallRepositorySchema(db::Connection& main) {
  return main.ExecScript(R"sql(
CREATE SCHEMA IF NOT EXISTS sample;
CREATE TABLE IF NOT EXISTS sample.namespaces (
  id bigserial PRIMARY KEY, path text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS sample.projects (
  id bigserial PRIMARY KEY, namespace_id bigint NOT NULL REFERENCES sample.namespaces,
  path text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS sample.snippets (
  id bigserial PRIMARY KEY, title text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE sample.namespaces
  ADD COLUMN IF NOT EXISTS parent_id bigint REFERENCES sample.namespaces;
ALTER TABLE sample.projects
  ADD COLUMN IF NOT EXISTS repository_storage text NOT NULL DEFAULT 'default';
)sql");
}

absl::StatusOr<Project> CreateProject(db::Connection& main, const std::string& root,
                                      const std::string& path, bool is_public,
                                      const std::string& storage) {
  if (auto s = CheckProjectPath(path); !s.ok()) return s;
  if (auto s = CheckStorage(storage); !s.ok()) return s;
  std::vector<std::string> created;
  Project out{0, path};
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto taken = main.Exec("SELECT 1 FROM sample.projects WHERE path = $1", {path});
    if (!taken.ok()) return taken.status();
    if (taken->rows() > 0)
      return absl::AlreadyExistsError(absl::StrCat("project \"", path, "\" already exists"));
    auto ns = EnsureNamespace(main, root, GroupOf(path), &created);
    if (!ns.ok()) return ns.status();
    for (const auto& rel : ProjectRepositories(path)) {
      auto dir = framework::ConfinedPath(root, rel);
      if (!dir.ok()) return dir.status();
      if (auto st = git::InitBare(*dir); !st.ok()) return st;
      created.push_back(*dir);
    }
    auto r = main.Exec(
        "INSERT INTO sample.projects (namespace_id, path, public, repository_storage) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        {absl::StrCat(*ns), path, is_public ? "true" : "false", storage});
    if (!r.ok()) return r.status();
    out.id = r->GetInt64(0, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    RemoveAll(created);
    return s;
  }
  return out;
}

absl::Status SeedProjects(db::Connection& main, const std::string& root, const std::string& group,
                          int64_t count) {
  constexpr int64_t kPerTransaction = 500;  // one commit (and fsync) per batch
  for (int64_t start = 0; start < count; start += kPerTransaction) {
    std::vector<std::string> created;
    absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
      auto ns = EnsureNamespace(main, root, group, &created);
      if (!ns.ok()) return ns.status();
      for (int64_t i = start; i < std::min(count, start + kPerTransaction); ++i) {
        std::string path = absl::StrCat(group, "/p", i);
        for (const auto& rel : ProjectRepositories(path)) {
          auto dir = framework::ConfinedPath(root, rel);
          if (!dir.ok()) return dir.status();
          if (auto st = git::InitBare(*dir); !st.ok()) return st;
          created.push_back(*dir);
        }
        auto r = main.Exec("INSERT INTO sample.projects (namespace_id, path) VALUES ($1, $2)",
                           {absl::StrCat(*ns), path});
        if (!r.ok()) return r.status();
      }
      return absl::OkStatus();
    });
    if (!s.ok()) {
      RemoveAll(created);
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Project> RenameProject(db::Connection& main, const std::string& root, int64_t id,
                                      const std::string& new_path) {
  if (auto s = CheckProjectPath(new_path); !s.ok()) return s;
  std::vector<std::string> created;
  std::vector<std::pair<std::string, std::string>> moved;  // from, to
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto cur =
        main.Exec("SELECT path FROM sample.projects WHERE id = $1 FOR UPDATE", {absl::StrCat(id)});
    if (!cur.ok()) return cur.status();
    if (cur->rows() == 0) return absl::NotFoundError(absl::StrCat("no project ", id));
    std::string old_path(cur->Get(0, 0));
    if (old_path == new_path) return absl::OkStatus();
    auto taken = main.Exec("SELECT 1 FROM sample.projects WHERE path = $1", {new_path});
    if (!taken.ok()) return taken.status();
    if (taken->rows() > 0)
      return absl::AlreadyExistsError(absl::StrCat("project \"", new_path, "\" already exists"));
    auto ns = EnsureNamespace(main, root, GroupOf(new_path), &created);
    if (!ns.ok()) return ns.status();
    auto from = ProjectRepositories(old_path), to = ProjectRepositories(new_path);
    for (size_t i = 0; i < from.size(); ++i) {
      auto a = framework::ConfinedPath(root, from[i]);
      auto b = framework::ConfinedPath(root, to[i]);
      if (!a.ok()) return a.status();
      if (!b.ok()) return b.status();
      if (auto d = MakeDirs(fs::path(*b).parent_path().string(), 0755); !d.ok()) return d;
      if (rename(a->c_str(), b->c_str()) != 0)
        return absl::InternalError(absl::StrCat("move ", *a, " to ", *b, ": ", strerror(errno)));
      moved.emplace_back(*a, *b);
    }
    auto r = main.Exec(
        "UPDATE sample.projects SET path = $2, namespace_id = $3, updated_at = now() "
        "WHERE id = $1",
        {absl::StrCat(id), new_path, absl::StrCat(*ns)});
    return r.ok() ? absl::OkStatus() : r.status();
  });
  if (!s.ok()) {
    for (auto it = moved.rbegin(); it != moved.rend(); ++it)
      rename(it->second.c_str(), it->first.c_str());
    RemoveAll(created);
    return s;
  }
  return Project{id, new_path};
}

absl::Status DeleteProject(db::Connection& main, const std::string& root, int64_t id) {
  std::string path;
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto r =
        main.Exec("DELETE FROM sample.projects WHERE id = $1 RETURNING path", {absl::StrCat(id)});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no project ", id));
    path = std::string(r->Get(0, 0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // After commit: the repositories go once nothing refers to them.
  for (const auto& rel : ProjectRepositories(path)) {
    auto dir = framework::ConfinedPath(root, rel);
    if (dir.ok()) RemoveAll({*dir});
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CreateSnippet(db::Connection& main, const std::string& root,
                                      const std::string& title) {
  std::vector<std::string> created;
  int64_t id = 0;
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto next = main.Exec("SELECT nextval(pg_get_serial_sequence('sample.snippets', 'id'))");
    if (!next.ok()) return next.status();
    id = next->GetInt64(0, 0);
    auto dir = framework::ConfinedPath(root, absl::StrCat("@snippets/", id, ".git"));
    if (!dir.ok()) return dir.status();
    if (auto st = git::InitBare(*dir); !st.ok()) return st;
    created.push_back(*dir);
    auto r = main.Exec("INSERT INTO sample.snippets (id, title) VALUES ($1, $2)",
                       {absl::StrCat(id), title});
    return r.ok() ? absl::OkStatus() : r.status();
  });
  if (!s.ok()) {
    RemoveAll(created);
    return s;
  }
  return id;
}

void AddRepositoryRoutes(api::Router& router, const RouteContext& ctx) {
  auto failed = [](const absl::Status& s) { return api::HttpResponse::FromStatus(s); };
  // The request body's "path" string.
  auto path_of = [](const api::HttpRequest& req) -> absl::StatusOr<std::string> {
    auto j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("path") || !j["path"].is_string())
      return absl::InvalidArgumentError(R"(the body must be JSON {"path": "<group>/<name>"})");
    return j["path"].get<std::string>();
  };
  auto project_json = [](const Project& p, int status) {
    nlohmann::json j = {{"id", p.id},
                        {"path", p.path},
                        {"http_url_to_repo", "/" + p.path + ".git"},
                        {"wiki_url", "/" + p.path + ".wiki.git"}};
    return api::HttpResponse::Json(status, j.dump() + "\n");
  };
  // A write with the credentials for it: the project of {id} in the path,
  // or (creating) what only an every-project token may write.
  auto with_db = [&ctx](auto body) {
    return [&ctx, body](const api::HttpRequest& req, const api::PathParams& p) {
      auto ticket = ctx.role->BeginWrite();  // counted in flight until answered
      if (!ticket.ok()) return api::WriteRefused(ticket.status());
      db::Connection* c = db::ThreadConnection(ctx.main_conninfo);
      if (c == nullptr)
        return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
      std::optional<int64_t> project;
      if (auto it = p.find("id"); it != p.end()) {
        int64_t id;
        if (!absl::SimpleAtoi(it->second, &id))
          return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
        project = id;
      }
      if (auto refused = RefuseWrite(ctx, req, *c, project)) return *refused;
      return body(*c, req, p);
    };
  };
  router.Add("POST", "/api/v1/sample/projects",
             with_db([&ctx, failed, path_of, project_json](
                         db::Connection& c, const api::HttpRequest& req, const api::PathParams&) {
               auto path = path_of(req);
               if (!path.ok()) return failed(path.status());
               auto j = nlohmann::json::parse(req.body, nullptr, false);
               auto pub = j.value("public", nlohmann::json(false));
               if (!pub.is_boolean()) {
                 return failed(absl::InvalidArgumentError("\"public\" must be true or false"));
               }
               auto storage = j.value("storage", nlohmann::json("default"));
               if (!storage.is_string()) {
                 return failed(absl::InvalidArgumentError("\"storage\" must be a shard name"));
               }
               auto p = CreateProject(c, ctx.repository_root, *path, pub.get<bool>(),
                                      storage.get<std::string>());
               return p.ok() ? project_json(*p, 201) : failed(p.status());
             }));
  router.Add(
      "PUT", "/api/v1/sample/projects/{id}",
      with_db([&ctx, failed, path_of, project_json](db::Connection& c, const api::HttpRequest& req,
                                                    const api::PathParams& pp) {
        int64_t id;
        if (!absl::SimpleAtoi(pp.at("id"), &id))
          return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
        auto path = path_of(req);
        if (!path.ok()) return failed(path.status());
        auto p = RenameProject(c, ctx.repository_root, id, *path);
        return p.ok() ? project_json(*p, 200) : failed(p.status());
      }));
  router.Add("DELETE", "/api/v1/sample/projects/{id}",
             with_db([&ctx, failed](db::Connection& c, const api::HttpRequest&,
                                    const api::PathParams& pp) {
               int64_t id;
               if (!absl::SimpleAtoi(pp.at("id"), &id))
                 return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
               absl::Status s = DeleteProject(c, ctx.repository_root, id);
               return s.ok() ? api::HttpResponse::Json(200, "{\"deleted\":true}\n") : failed(s);
             }));
  router.Add("POST", "/api/v1/sample/snippets",
             with_db([&ctx, failed](db::Connection& c, const api::HttpRequest& req,
                                    const api::PathParams&) {
               auto id = CreateSnippet(c, ctx.repository_root, req.body.substr(0, 200));
               if (!id.ok()) return failed(id.status());
               nlohmann::json j = {{"id", *id},
                                   {"http_url_to_repo", absl::StrCat("/@snippets/", *id, ".git")}};
               return api::HttpResponse::Json(201, j.dump() + "\n");
             }));
}

}  // namespace georep::sample
