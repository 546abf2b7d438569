// File-system helpers: whole-file reads, atomic writes, owned directories.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep {

// The whole of a regular file; NotFound when it is missing or not a
// regular file (a FIFO, a socket or a device is refused, never waited on).
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Opens a regular file for reading (following links): O_NONBLOCK, so a
// FIFO planted at `path` cannot block the caller, then S_ISREG checked on
// the descriptor. NotFound names what it is when it is not a regular file.
// The descriptor is the caller's to close.
absl::StatusOr<int> OpenRegularFile(const std::string& path);

// "a FIFO, not a regular file" and the like, for a stat mode.
std::string FileKind(unsigned mode);

// Writes to a temp file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the folder, so a reader sees the old content or the new, never a
// part, and the new content survives a crash once this returns.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content, int mode = 0644);

// mkdir -p, then chmod `mode`; if `owner` is not empty and we are root, chown
// the leaf to that user (and its group). Folders it creates are durable when
// it returns (the folder holding each is fsynced).
absl::Status MakeDirs(const std::string& path, int mode = 0755, const std::string& owner = "");

// fsyncs the folder holding each of `paths`, once per folder, so entries
// renamed or created there survive a crash. Returns how many folders.
absl::StatusOr<int> SyncParentDirectories(const std::vector<std::string>& paths);

// Durability for many files at once. Below kSyncFilesystemAt paths, each
// file is synced (SyncFileData: fdatasync) or each folder holding one
// (SyncFolderEntries: fsync, once per folder); from it on, each file system
// holding them is synced once (syncfs(2)), which writes what they share
// (inode tables, folder blocks) once and in fewer, larger writes. An error
// names the path or file system that could not be synced.
inline constexpr size_t kSyncFilesystemAt = 8;
absl::Status SyncFileData(const std::vector<std::string>& paths);
absl::Status SyncFolderEntries(const std::vector<std::string>& paths);

// Removes `relative` beneath the folder `root`: a file, or with
// `recursive` a whole tree. No symbolic link is followed: each folder on
// the way is opened from the one before with O_NOFOLLOW, so swapping one
// for a link fails (PermissionDenied) instead of reaching outside `root`,
// and a link inside a removed tree is removed, not followed. A path that
// is not there is not an error. `relative` must be plain segments (no "",
// ".", ".." or leading "/").
absl::Status RemoveBeneath(const std::string& root, absl::string_view relative, bool recursive);

// Opens the regular file root/relative for reading, resolved beneath
// `root` without following any symbolic link, in one step: openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it (5.6), else
// an O_NOFOLLOW walk from the root's descriptor. The caller serves from the
// descriptor it gets (closing it), so the file served is the file checked.
// InvalidArgument for a path that is not plain segments, PermissionDenied
// for a link on the way, NotFound for no such regular file (a FIFO, socket
// or device there is refused without blocking: opened O_NONBLOCK).
absl::StatusOr<int> OpenBeneath(const std::string& root, absl::string_view relative);

// Like OpenBeneath, for the folder root/relative (NotFound when it is not
// one): a repository is served from the folder this descriptor holds, not
// from whatever its path names by then.
absl::StatusOr<int> OpenFolderBeneath(const std::string& root, absl::string_view relative);

// Closes the descriptor it holds when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();
  int get() const { return fd_; }

 private:
  int fd_;
};

// Absolute, lexically normalised form of `path` (relative to the cwd).
std::string AbsolutePath(const std::string& path);

}  // namespace georep
