// Paths from rows and events: a path template (first line) and a relative
// path (the rest). ConfinedPath must answer a path beneath the root with no
// link on the way, or refuse; RemoveBeneath must never remove anything
// outside the root, though the root holds a link to a folder beside it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "framework/spec/spec.h"
#include "util/fs.h"

namespace {

struct Fixture {
  std::string base, root, outside, sentinel;
};

const Fixture& Fix() {
  static Fixture f = [] {
    char tmpl[] = "/dev/shm/georep-fuzz-path-XXXXXX";
    char* made = mkdtemp(tmpl);
    if (made == nullptr) abort();
    Fixture f{made, std::string(made) + "/root", std::string(made) + "/outside", ""};
    f.sentinel = f.outside + "/keep";
    return f;
  }();
  // Remade each time: a removal beneath the root may take its contents.
  mkdir(f.root.c_str(), 0755);
  mkdir(f.outside.c_str(), 0755);
  mkdir((f.root + "/a").c_str(), 0755);
  mkdir((f.root + "/a/b").c_str(), 0755);
  int fd = open(f.sentinel.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd >= 0) close(fd);
  symlink("../outside", (f.root + "/link").c_str());
  symlink("../../outside", (f.root + "/a/up").c_str());
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  absl::string_view templ = in.substr(0, nl);
  absl::string_view rel = nl == absl::string_view::npos ? "" : in.substr(nl + 1);
  (void)georep::framework::ParsePathTemplate(templ);

  const Fixture& f = Fix();
  auto confined = georep::framework::ConfinedPath(f.root, rel);
  if (confined.ok()) {
    if (!absl::StartsWith(*confined, f.root + "/")) abort();
    // No ".." and no link between the root and the file.
    std::string walked = f.root;
    for (absl::string_view seg :
         absl::StrSplit(absl::string_view(*confined).substr(f.root.size() + 1), '/')) {
      if (seg == ".." || seg == ".") abort();
      walked += "/" + std::string(seg);
      struct stat st;
      if (lstat(walked.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) abort();
    }
  }
  (void)georep::RemoveBeneath(f.root, rel, /*recursive=*/true);
  struct stat st;
  if (stat(f.sentinel.c_str(), &st) != 0) abort();  // removed through a link
  return 0;
}
