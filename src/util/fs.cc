#include "util/fs.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "util/random.h"

namespace georep {
namespace {

absl::Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open folder ", dir, ": ", strerror(errno)));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync folder ", dir, ": ", strerror(e)));
  return absl::OkStatus();
}

std::string ParentOf(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

absl::StatusOr<int> SyncParentDirectories(const std::vector<std::string>& paths) {
  std::set<std::string> dirs;
  for (const auto& p : paths) dirs.insert(ParentOf(p));
  for (const auto& d : dirs) {
    if (auto s = SyncDirectory(d); !s.ok()) return s;
  }
  return static_cast<int>(dirs.size());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": not found"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": ", strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFileAtomic(const std::string& path, absl::string_view content, int mode) {
  std::string tmp = absl::StrCat(path, ".tmp-", RandomHex(6));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return absl::PermissionDeniedError(absl::StrCat("create ", tmp, ": ", strerror(errno)));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::ResourceExhaustedError(absl::StrCat("write ", tmp, ": ", strerror(e)));
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("fsync ", tmp, ": ", strerror(e)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("rename ", tmp, " to ", path, ": ", strerror(e)));
  }
  return SyncDirectory(ParentOf(path));
}

absl::Status MakeDirs(const std::string& path, int mode, const std::string& owner) {
  std::error_code ec;
  // The folders missing now, deepest first: each one created is made durable
  // in its parent.
  std::vector<std::string> missing;
  for (std::filesystem::path p = std::filesystem::path(path).lexically_normal();
       !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p.string());
    if (p == p.parent_path()) break;
  }
  std::filesystem::create_directories(path, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("create directory ", path, ": ", ec.message()));
  if (auto synced = SyncParentDirectories(missing); !synced.ok()) return synced.status();
  if (chmod(path.c_str(), mode) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chmod ", path, ": ", strerror(errno)));
  }
  if (!owner.empty() && geteuid() == 0) {
    passwd* pw = getpwnam(owner.c_str());
    if (pw == nullptr) return absl::NotFoundError(absl::StrCat("no user \"", owner, "\""));
    if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::PermissionDeniedError(absl::StrCat("chown ", path, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

std::string AbsolutePath(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace georep
