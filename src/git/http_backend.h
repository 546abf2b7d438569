// Git's smart HTTP protocol served by the real `git http-backend` (a CGI
// program): the request goes to its stdin, its response headers are parsed,
// and its body is streamed to the client piece by piece, so a clone of any
// size never sits in memory.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::git {

struct CgiRequest {
  std::string method;     // GET or POST
  std::string path_info;  // "/info/refs", "/git-upload-pack": within the repository
  std::string query;      // "service=git-upload-pack"
  std::string content_type;
  std::string content_encoding;  // "gzip" when the client compressed the request
  std::string git_protocol;      // the Git-Protocol header ("version=2")
  std::string remote_addr;
  bool allow_push = false;  // receive-pack is refused unless set
  // The request body, kept alive by `body_owner` until git has read it.
  absl::string_view body;
  std::shared_ptr<const void> body_owner;
};

// A running `git http-backend` whose headers have been read.
class CgiResponse {
 public:
  ~CgiResponse();
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;

  // Sends the body through `write` (which returns false when the client is
  // gone) and returns git's exit code.
  int Pump(const std::function<bool(absl::string_view)>& write);

 private:
  friend absl::StatusOr<std::shared_ptr<CgiResponse>> RunHttpBackend(int, const CgiRequest&);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string pending_;  // body bytes read together with the headers
  std::thread feeder_;
  int exit_code_ = -1;
};

// Starts `git http-backend` for `request` on the repository whose folder
// `repository_fd` holds (git starts in it, and is told the project root is
// "."; no path to the repository is ever resolved again), and reads its
// response headers. The caller keeps and closes the descriptor.
absl::StatusOr<std::shared_ptr<CgiResponse>> RunHttpBackend(int repository_fd,
                                                            const CgiRequest& request);

}  // namespace georep::git
