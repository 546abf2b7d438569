#include "support/s3_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "support/test_support.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/net.h"

namespace georep::test {

S3Server::S3Server(std::string bucket) : bucket_(std::move(bucket)) {
  dir_ = MakeTempDir("s3rver");
  auto port = FreeTcpPort();
  if (!port.ok()) {
    error_ = std::string(port.status().message());
    return;
  }
  port_ = *port;
  ok_ = Start();
}

bool S3Server::Start() {
  auto pid = SpawnDetached({"node", GEOREP_S3RVER, dir_ + "/data", absl::StrCat(port_), bucket_},
                           dir_ + "/s3rver.log");
  if (!pid.ok()) {
    error_ = absl::StrCat("cannot start s3rver (scripts/install-deps installs it): ",
                          pid.status().message());
    return false;
  }
  pid_ = *pid;
  // Up when it answers HTTP at all (an unsigned request is refused).
  bool up = WaitFor(
      [&] {
        auto r = transport::HttpRequest(endpoint() + "/", {.timeout_seconds = 2});
        return r.ok() && r->status > 0;
      },
      60);
  if (!up) {
    auto log = ReadFile(dir_ + "/s3rver.log");
    error_ = absl::StrCat("s3rver did not answer on ", endpoint(), ": ", log.ok() ? *log : "");
  }
  return up;
}

void S3Server::Stop() {
  if (pid_ > 0) (void)TerminateProcess(pid_, std::chrono::milliseconds(3000));
  pid_ = -1;
}

S3Server::~S3Server() {
  Stop();
  RemoveTree(dir_);
}

std::string S3Server::endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

transport::S3Location S3Server::Location(const std::string& prefix) const {
  return transport::S3Location{.endpoint = endpoint(),
                               .bucket = bucket_,
                               .region = "us-east-1",
                               .prefix = prefix,
                               .path_style = true,
                               .access_key = "S3RVER",
                               .secret_key = "S3RVER"};
}

CommandResult S3Server::S3Cmd(const std::vector<std::string>& args) const {
  return S3CmdAt(absl::StrCat("127.0.0.1:", port_), args, dir_);
}

CommandResult S3CmdAt(const std::string& host, const std::vector<std::string>& args,
                      const std::string& home) {
  std::vector<std::string> argv = {"s3cmd",
                                   "--config=/dev/null",
                                   "--access_key=S3RVER",
                                   "--secret_key=S3RVER",
                                   "--host=" + host,
                                   "--host-bucket=" + host,
                                   "--no-ssl",
                                   "--region=us-east-1"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = Run(argv, {.extra_env = {"HOME=" + home}});
  return r.ok() ? *r : CommandResult{127, std::string(r.status().message())};
}

}  // namespace georep::test
