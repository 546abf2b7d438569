// A real S3-compatible server for tests: npm's s3rver (tests/s3, installed by
// scripts/install-deps), on a free loopback port, with one bucket, data in a
// temp folder; it checks SigV4 signatures against its one key pair,
// S3RVER/S3RVER. Stopped and removed by the destructor. S3cmd() runs
// Debian's s3cmd against it: a second client, independent of Georep's.
#pragma once

#include <string>
#include <vector>

#include "transport/s3_client.h"
#include "util/subprocess.h"

namespace georep::test {

class S3Server {
 public:
  explicit S3Server(std::string bucket = "georep");
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string endpoint() const;
  // Stops the server (its data stays), and starts it again on the same port.
  void Stop();
  bool Start();
  // Where Georep reaches the bucket, with the server's keys.
  transport::S3Location Location(const std::string& prefix = "") const;
  // s3cmd ARGS… against this server ("ls", "s3://georep/", …).
  CommandResult S3Cmd(const std::vector<std::string>& args) const;

 private:
  std::string bucket_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool ok_ = false;
  std::string error_;
};

// s3cmd ARGS… against the s3rver at `host` ("127.0.0.1:PORT"), with its
// keys; HOME is `home`.
CommandResult S3CmdAt(const std::string& host, const std::vector<std::string>& args,
                      const std::string& home = "/tmp");

}  // namespace georep::test
