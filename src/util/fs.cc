#include "util/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

namespace {

// syncfs(2) once per file system holding the folder of one of `paths`.
absl::Status SyncFilesystemsOf(const std::vector<std::string>& paths) {
  std::set<std::string> dirs;
  for (const auto& p : paths) dirs.insert(ParentOf(p));
  std::set<dev_t> synced;
  for (const auto& d : dirs) {
    int fd = open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(absl::StrCat("open folder ", d, ": ", strerror(errno)));
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && !synced.contains(st.st_dev)) {
      rc = syncfs(fd);
      if (rc == 0) synced.insert(st.st_dev);
    }
    int e = errno;
    close(fd);
    if (rc != 0) {
      return absl::InternalError(
          absl::StrCat("sync the file system holding ", d, ": ", strerror(e)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string FileKind(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a folder, not a regular file";
  if (S_ISFIFO(mode)) return "a FIFO, not a regular file";
  if (S_ISSOCK(mode)) return "a socket, not a regular file";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device node, not a regular file";
  if (S_ISLNK(mode)) return "a symbolic link, not a regular file";
  return "not a regular file";
}

absl::StatusOr<int> OpenRegularFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": not found"));
    if (errno == ENXIO) return absl::NotFoundError(absl::StrCat(path, ": ", FileKind(S_IFSOCK)));
    return absl::PermissionDeniedError(absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("stat ", path, ": ", strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::NotFoundError(absl::StrCat(path, ": ", FileKind(st.st_mode)));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

absl::Status SyncFileData(const std::vector<std::string>& paths) {
  if (paths.size() >= kSyncFilesystemAt) return SyncFilesystemsOf(paths);
  for (const auto& p : paths) {
    int fd = open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(absl::StrCat("open ", p, ": ", strerror(errno)));
    int rc = fdatasync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", p, ": ", strerror(e)));
  }
  return absl::OkStatus();
}

absl::Status SyncFolderEntries(const std::vector<std::string>& paths) {
  if (paths.size() >= kSyncFilesystemAt) return SyncFilesystemsOf(paths);
  return SyncParentDirectories(paths).status();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  auto fd = OpenRegularFile(path);
  if (!fd.ok()) return fd.status();
  ScopedFd owned(*fd);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::DataLossError(absl::StrCat("read ", path, ": ", strerror(errno)));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
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

namespace {

// Removes the entry `name` of the folder open as `dir`, and everything
// beneath it when it is a folder; links are removed, never followed.
absl::Status RemoveTreeAt(int dir, const std::string& name) {
  struct stat st;
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", name));
  }
  if (S_ISDIR(st.st_mode)) {
    int sub = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", name));
    DIR* d = fdopendir(sub);
    if (d == nullptr) {
      close(sub);
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", name));
    }
    std::vector<std::string> entries;
    while (dirent* e = readdir(d)) {
      std::string child = e->d_name;
      if (child != "." && child != "..") entries.push_back(std::move(child));
    }
    absl::Status s = absl::OkStatus();
    for (const auto& child : entries) {
      if (s.ok()) s = RemoveTreeAt(dirfd(d), child);
    }
    closedir(d);
    if (!s.ok()) return s;
    if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return absl::ErrnoToStatus(errno, absl::StrCat("remove ", name));
    return absl::OkStatus();
  }
  if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT)
    return absl::ErrnoToStatus(errno, absl::StrCat("remove ", name));
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveBeneath(const std::string& root, absl::string_view relative, bool recursive) {
  std::vector<std::string> segments = absl::StrSplit(relative, '/');
  for (const auto& seg : segments) {
    // A NUL would end the name the system sees: "..\0x" is "..".
    if (seg.empty() || seg == "." || seg == ".." || seg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("remove \"", relative, "\" beneath ", root, ": not a plain relative path"));
    }
  }
  int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", root));
  }
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    int next = openat(dir, segments[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(dir);
    if (next < 0) {
      if (err == ENOENT) return absl::OkStatus();
      if (err == ELOOP || err == ENOTDIR) {
        return absl::PermissionDeniedError(absl::StrCat("remove \"", relative, "\" beneath ", root,
                                                        ": \"", segments[i],
                                                        "\" is a symbolic link or not a folder"));
      }
      return absl::ErrnoToStatus(err, absl::StrCat("open ", segments[i], " beneath ", root));
    }
    dir = next;
  }
  absl::Status s = absl::OkStatus();
  if (recursive) {
    s = RemoveTreeAt(dir, segments.back());
  } else if (unlinkat(dir, segments.back().c_str(), 0) != 0 && errno != ENOENT) {
    s = absl::ErrnoToStatus(errno, absl::StrCat("remove ", relative, " beneath ", root));
  }
  close(dir);
  return s;
}

namespace {

// OpenBeneath and OpenFolderBeneath: `folder` wants a directory, else a
// regular file.
absl::StatusOr<int> OpenBeneathAs(const std::string& root, absl::string_view relative,
                                  bool folder) {
  std::vector<std::string> segments = absl::StrSplit(relative, '/');
  for (const auto& seg : segments) {
    if (seg.empty() || seg == "." || seg == ".." || seg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("open \"", relative, "\" beneath ", root, ": not a plain relative path"));
    }
  }
  int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", root));
  auto refused = [&](int err, absl::string_view where) -> absl::Status {
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(relative, ": no such file"));
    // open() of a socket fails with ENXIO.
    if (err == ENXIO) {
      return absl::NotFoundError(absl::StrCat(relative, ": ", FileKind(S_IFSOCK)));
    }
    if (err == ELOOP || err == ENOTDIR || err == EXDEV) {
      return absl::PermissionDeniedError(absl::StrCat("open \"", relative, "\" beneath ", root,
                                                      ": \"", where,
                                                      "\" is a symbolic link or not a folder"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("open ", relative, " beneath ", root));
  };
  int fd = -1;
#ifdef SYS_openat2
  struct open_how how {};
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
  how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (folder ? O_DIRECTORY : O_NONBLOCK);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string rel(relative);
  fd = static_cast<int>(syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
  if (fd < 0 && errno != ENOSYS) {
    int err = errno;
    close(dir);
    return refused(err, relative);
  }
#endif
  if (fd < 0) {  // no openat2: a walk, one folder at a time, never following a link
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      int next = openat(dir, segments[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int err = errno;
      close(dir);
      if (next < 0) return refused(err, segments[i]);
      dir = next;
    }
    fd = openat(dir, segments.back().c_str(),
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (folder ? O_DIRECTORY : O_NONBLOCK));
    if (fd < 0) {
      int err = errno;
      close(dir);
      return refused(err, segments.back());
    }
  }
  close(dir);
  struct stat st;
  if (fstat(fd, &st) != 0 || (folder ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
    close(fd);
    return absl::NotFoundError(absl::StrCat(
        relative, folder ? ": not a folder" : absl::StrCat(": ", FileKind(st.st_mode))));
  }
  if (!folder) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<int> OpenBeneath(const std::string& root, absl::string_view relative) {
  return OpenBeneathAs(root, relative, /*folder=*/false);
}

absl::StatusOr<int> OpenFolderBeneath(const std::string& root, absl::string_view relative) {
  return OpenBeneathAs(root, relative, /*folder=*/true);
}

}  // namespace georep
