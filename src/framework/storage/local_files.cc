// Blobs as files under the storage root (kind "file"): written to a
// temporary in <root>/.georep-tmp, fdatasync'd, renamed into place; read and
// served only as regular files beneath the root, never through a link.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "framework/spec/spec.h"
#include "framework/storage/blob_store.h"
#include "util/fs.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

class PendingFile : public PendingBlob {
 public:
  PendingFile(std::string tmp, std::string location, int fd)
      : tmp_(std::move(tmp)), location_(std::move(location)), fd_(fd) {}
  ~PendingFile() override {
    if (fd_ >= 0) close(fd_);
    if (!installed_) unlink(tmp_.c_str());
  }

  absl::Status Write(absl::string_view piece) override {
    for (size_t done = 0; done < piece.size();) {
      ssize_t w = write(fd_, piece.data() + done, piece.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        return absl::ResourceExhaustedError(absl::StrCat("write ", tmp_, ": ", strerror(errno)));
      done += static_cast<size_t>(w);
    }
    size_ += static_cast<int64_t>(piece.size());
    return absl::OkStatus();
  }
  absl::Status Seal() override {
    if (fd_ < 0) return absl::OkStatus();
    absl::Status s = fdatasync(fd_) == 0
                         ? absl::OkStatus()
                         : absl::InternalError(absl::StrCat("fsync ", tmp_, ": ", strerror(errno)));
    return Close(s);
  }
  // Sealed by the store with others (one sync of their file system).
  absl::Status Close(absl::Status sealed) {
    if (close(fd_) != 0 && sealed.ok())
      sealed = absl::InternalError(absl::StrCat("write ", tmp_, ": ", strerror(errno)));
    fd_ = -1;
    return sealed;
  }
  absl::Status Install() override {
    std::string folder = std::filesystem::path(location_).parent_path().string();
    if (auto s = MakeDirs(folder, 0755); !s.ok()) return s;
    if (rename(tmp_.c_str(), location_.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename into ", location_, ": ", strerror(errno)));
    }
    installed_ = true;
    return absl::OkStatus();
  }
  const std::string& location() const override { return location_; }
  int64_t size() const override { return size_; }
  const std::string& tmp() const { return tmp_; }
  bool open() const { return fd_ >= 0; }

 private:
  std::string tmp_;
  std::string location_;
  int fd_;
  int64_t size_ = 0;
  bool installed_ = false;
};

class LocalFilesStore : public BlobStore {
 public:
  explicit LocalFilesStore(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }

  absl::string_view kind() const override { return "file"; }
  std::string where() const override { return root_; }

  absl::StatusOr<std::string> Locate(absl::string_view relative) const override {
    return ConfinedPath(root_, relative);
  }

  absl::StatusOr<int64_t> Read(absl::string_view location,
                               const std::function<bool(absl::string_view)>& sink) const override {
    auto fd = OpenFile(location);
    if (!fd->ok()) return fd->status();
    ScopedFd owned(**fd);
    std::string buf(1 << 20, '\0');
    int64_t total = 0;
    while (true) {
      ssize_t n = read(**fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::DataLossError(absl::StrCat("read ", location, ": ", strerror(errno)));
      }
      if (n == 0) return total;
      total += n;
      if (!sink(absl::string_view(buf.data(), static_cast<size_t>(n)))) {
        return absl::CancelledError(absl::StrCat("read ", location, ": stopped by its reader"));
      }
    }
  }

  absl::StatusOr<std::optional<int64_t>> Size(absl::string_view location) const override {
    auto fd = OpenFile(location);
    if (!fd->ok()) {
      if (absl::IsNotFound(fd->status())) return std::optional<int64_t>();
      return fd->status();
    }
    ScopedFd owned(**fd);
    struct stat st;
    if (fstat(**fd, &st) != 0) return absl::InternalError(absl::StrCat("stat ", location));
    return std::optional<int64_t>(st.st_size);
  }

  absl::StatusOr<std::string> Checksum(absl::string_view location, int64_t* size) const override {
    if (auto rel = Relative(location); !rel.ok()) return rel.status();
    return Sha256File(std::string(location), size);
  }

  absl::Status Remove(absl::string_view location) const override {
    auto rel = Relative(location);
    if (!rel.ok()) return absl::PermissionDeniedError(rel.status().message());
    return RemoveBeneath(root_, *rel, /*recursive=*/false);
  }

  absl::StatusOr<std::unique_ptr<PendingBlob>> Create(const std::string& location,
                                                      const WriteOptions& options) const override {
    if (auto rel = Relative(location); !rel.ok()) return rel.status();
    std::string tmp = absl::StrCat(
        TempDir(root_), "/", options.writer.empty() ? "writer" : options.writer, "-", RandomHex(8));
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
      if (auto s = MakeDirs(TempDir(root_), 0755); !s.ok()) return s;
      fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
      return absl::PermissionDeniedError(absl::StrCat("create ", tmp, ": ", strerror(errno)));
    }
    return std::unique_ptr<PendingBlob>(new PendingFile(tmp, location, fd));
  }

  absl::Status SealAll(const std::vector<PendingBlob*>& blobs) const override {
    std::vector<PendingFile*> files;
    std::vector<std::string> paths;
    for (PendingBlob* b : blobs) {
      auto* f = dynamic_cast<PendingFile*>(b);
      if (f == nullptr) return absl::InternalError("a pending blob of another store");
      if (!f->open()) continue;
      files.push_back(f);
      paths.push_back(f->tmp());
    }
    // Closed first: their data is synced through the path (or the file
    // system at once), like any file written and closed.
    absl::Status first = absl::OkStatus();
    for (PendingFile* f : files) {
      absl::Status s = f->Close(absl::OkStatus());
      if (first.ok()) first = s;
    }
    if (!first.ok()) return first;
    return SyncFileData(paths);
  }

  bool installs_are_entries() const override { return true; }
  absl::Status SyncInstalled(const std::vector<std::string>& locations) const override {
    return SyncFolderEntries(locations);
  }

  std::optional<absl::StatusOr<int>> OpenFile(absl::string_view location) const override {
    auto rel = Relative(location);
    if (!rel.ok()) return absl::StatusOr<int>(rel.status());
    return OpenBeneath(root_, *rel);
  }

  bool remote() const override { return false; }
  bool batch_fetch() const override { return true; }

 private:
  // The part of `location` beneath the root; NotFound when it is not there.
  absl::StatusOr<std::string> Relative(absl::string_view location) const {
    absl::string_view rest = location;
    if (!absl::ConsumePrefix(&rest, root_) || !absl::ConsumePrefix(&rest, "/") || rest.empty()) {
      return absl::NotFoundError(
          absl::StrCat(location, " is not a file under this site's storage root ", root_));
    }
    return std::string(rest);
  }

  std::string root_;
};

}  // namespace

std::shared_ptr<const BlobStore> LocalFiles(const std::string& root) {
  return std::make_shared<LocalFilesStore>(root);
}

std::string TempDir(const std::string& storage_root) { return storage_root + "/.georep-tmp"; }

}  // namespace georep::framework
