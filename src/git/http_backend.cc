#include "git/http_backend.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "git/repository.h"
#include "util/subprocess.h"

namespace georep::git {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

}  // namespace

CgiResponse::~CgiResponse() {
  if (out_fd_ >= 0) close(out_fd_);
  if (feeder_.joinable()) feeder_.join();
  if (pid_ > 0 && exit_code_ < 0) {
    kill(pid_, SIGTERM);
    WaitChild(pid_);
  }
}

int CgiResponse::Pump(const std::function<bool(absl::string_view)>& write) {
  bool client = pending_.empty() || write(pending_);
  pending_.clear();
  char buf[256 * 1024];
  while (client) {
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    client = write(absl::string_view(buf, static_cast<size_t>(n)));
  }
  close(out_fd_);
  out_fd_ = -1;
  if (!client) kill(pid_, SIGTERM);
  if (feeder_.joinable()) feeder_.join();
  exit_code_ = WaitChild(pid_);
  return client ? exit_code_ : -1;
}

absl::StatusOr<std::shared_ptr<CgiResponse>> RunHttpBackend(int repository_fd,
                                                            const CgiRequest& request) {
  RunOptions options{.extra_env =
                         {
                             "GIT_PROJECT_ROOT=.",
                             "GIT_HTTP_EXPORT_ALL=1",
                             "REQUEST_METHOD=" + request.method,
                             "PATH_INFO=" + request.path_info,
                             "QUERY_STRING=" + request.query,
                             "CONTENT_TYPE=" + request.content_type,
                             absl::StrCat("CONTENT_LENGTH=", request.body.size()),
                             "REMOTE_ADDR=" + request.remote_addr,
                             "GATEWAY_INTERFACE=CGI/1.1",
                         },
                     .cwd_fd = repository_fd};
  if (!request.content_encoding.empty())
    options.extra_env.push_back("HTTP_CONTENT_ENCODING=" + request.content_encoding);
  if (!request.git_protocol.empty()) {
    options.extra_env.push_back("GIT_PROTOCOL=" + request.git_protocol);
    options.extra_env.push_back("HTTP_GIT_PROTOCOL=" + request.git_protocol);
  }
  for (auto& e : GitConfigEnv({{"http.receivepack", request.allow_push ? "true" : "false"},
                               {"http.uploadpack", "true"}})) {
    options.extra_env.push_back(std::move(e));
  }
  CountGitProcess();
  auto child = SpawnPiped({"git", "http-backend"}, options);
  if (!child.ok()) return child.status();
  auto response = std::make_shared<CgiResponse>();
  response->pid_ = child->pid;
  response->out_fd_ = child->stdout_fd;
  // The request body goes in from a thread, so a large request and a large
  // response cannot block each other.
  response->feeder_ =
      std::thread([fd = child->stdin_fd, body = request.body, owner = request.body_owner]() {
        size_t off = 0;
        while (off < body.size()) {
          ssize_t n = write(fd, body.data() + off, body.size() - off);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          off += static_cast<size_t>(n);
        }
        close(fd);
      });

  // CGI headers, up to the blank line.
  std::string head;
  size_t end = std::string::npos, sep = 0;
  char buf[16 * 1024];
  while (end == std::string::npos) {
    ssize_t n = read(response->out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
    if ((end = head.find("\r\n\r\n")) != std::string::npos) {
      sep = 4;
    } else if ((end = head.find("\n\n")) != std::string::npos) {
      sep = 2;
    }
    if (end == std::string::npos && head.size() > kMaxHeaderBytes) break;
  }
  if (end == std::string::npos) {
    response->Pump([](absl::string_view) { return true; });
    return absl::InternalError(
        absl::StrCat("git http-backend answered no headers for ", request.path_info));
  }
  response->pending_ = head.substr(end + sep);
  for (absl::string_view line : absl::StrSplit(absl::string_view(head).substr(0, end), '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (name == "status") {
      int code = 0;
      if (absl::SimpleAtoi(value.substr(0, value.find(' ')), &code)) response->status = code;
    } else if (name == "content-type") {
      response->content_type = value;
    } else {
      response->headers.emplace_back(std::string(line.substr(0, colon)), value);
    }
  }
  return response;
}

}  // namespace georep::git
