#include "api/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/subprocess.h"
#include "util/tls_files.h"

namespace georep::api {
namespace {

TEST(HttpServerTest, ServesRequestsOnAnEphemeralPort) {
  std::atomic<int> calls{0};
  HttpServer server(
      [&](const HttpRequest& r) {
        ++calls;
        if (r.path == "/echo") {
          return HttpResponse::Text(200, absl::StrCat(r.method, " ", r.QueryParam("q"), " ",
                                                      r.Header("x-test"), " ", r.body));
        }
        if (r.path == "/throw") throw std::runtime_error("boom");
        return HttpResponse::Error(404, "NOT_FOUND", "no");
      },
      2);
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  std::string base = absl::StrCat("http://127.0.0.1:", *port);

  auto r = transport::HttpRequest(
      base + "/echo?q=1&x=2", {.method = "POST", .body = "payload", .headers = {"X-Test: yes"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST 1 yes payload");

  auto missing = transport::HttpRequest(base + "/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->content_type, "application/json");

  // A handler that throws answers 500 and the server keeps serving.
  auto thrown = transport::HttpRequest(base + "/throw");
  ASSERT_TRUE(thrown.ok());
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(transport::HttpRequest(base + "/echo")->status, 200);
  EXPECT_EQ(calls.load(), 4);

  server.Stop();
  EXPECT_FALSE(transport::HttpRequest(base + "/echo", {.timeout_seconds = 2}).ok());
}

// What the server sends back, and whether it closed the connection.
struct RawReply {
  std::string text;
  bool closed = false;
};

// A connection from `from` (127.0.0.x) to the server; -1 if refused.
int Connect(int port, const char* from = "127.0.0.1", int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// What the server sends on `fd` until it closes or 10 s pass.
RawReply ReadAll(int fd) {
  RawReply out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) {
      out.closed = true;
      break;
    }
    if (n < 0) break;
    out.text.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Sends `raw` on a fresh connection and reads until the server closes it or
// 10 s pass; `closed` says which.
RawReply Exchange(int port, const std::string& raw) {
  int fd = Connect(port);
  if (fd < 0) return RawReply{};
  (void)!write(fd, raw.data(), raw.size());
  RawReply out = ReadAll(fd);
  close(fd);
  return out;
}

// Requests a proxy could frame differently from this server are refused
// with 400 and the connection closed, so nothing can be smuggled behind
// them; a second Authorization header, and a target that is not a path,
// are refused too.
TEST(HttpServerTest, AmbiguousFramingIsRefusedAndTheConnectionClosed) {
  HttpServer server(
      [&](const HttpRequest& r) {
        return HttpResponse::Text(200, absl::StrCat("served ", r.method, " ", r.QueryParam("q"),
                                                    " auth=", r.Header("authorization")));
      },
      2);
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  const std::string smuggled = "GET /echo?q=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char* head : {
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n"
           "Content-Length: 0\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: 5\r\n\r\n0\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
           "0\r\n\r\n",
           "POST /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
           "Authorization: Bearer b\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
           // Not a path: would become http://primary@evil.example/… in a redirect.
           "GET @evil.example/x.git/info/refs HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET http://evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n",
       }) {
    RawReply reply = Exchange(*port, std::string(head) + smuggled);
    EXPECT_TRUE(reply.closed) << head << reply.text;
    EXPECT_EQ(reply.text.find("served"), std::string::npos) << head << reply.text;
    // Refused with a 400, also when the parser itself refuses the header.
    EXPECT_TRUE(reply.text.rfind("HTTP/1.1 400", 0) == 0 ||
                reply.text.rfind("HTTP/1.0 400", 0) == 0)
        << head << reply.text;
  }
  // A well-framed chunked request on the same server is served, and kept alive.
  RawReply fine = Exchange(*port,
                           "POST /echo?q=ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n0\r\n\r\n"
                           "GET /echo?q=smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(fine.text.find("served POST ok"), std::string::npos) << fine.text;
  EXPECT_NE(fine.text.find("served GET smuggled"), std::string::npos)
      << "a pipelined request after a well-framed one is an ordinary request: " << fine.text;
  server.Stop();
}

HttpResponse Streamed(int64_t bytes, std::atomic<int>* ended, std::atomic<int>* cut) {
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.stream = [bytes, ended, cut](const HttpResponse::Writer& write) {
    std::string piece(64 * 1024, 'x');
    for (int64_t sent = 0; sent < bytes; sent += static_cast<int64_t>(piece.size())) {
      if (!write(piece)) {
        ++*cut;
        break;
      }
    }
    ++*ended;
  };
  return r;
}

// Clients that ask for a large streamed response (a Git pack) and never
// read it hold no I/O thread: other requests keep being answered, and when
// the clients go their producers are told and end.
TEST(HttpServerTest, ClientsThatStopReadingDoNotStallTheServer) {
  std::atomic<int> ended{0}, cut{0};
  HttpServer server(
      [&](const HttpRequest& r) {
        if (r.path == "/pack") return Streamed(int64_t{256} << 20, &ended, &cut);
        return HttpResponse::Text(200, "ok");
      },
      HttpServerOptions{.threads = 2});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  constexpr int kStalled = 6;  // three times the I/O threads
  std::vector<int> stalled;
  for (int i = 0; i < kStalled; ++i) {
    int fd = Connect(*port, "127.0.0.1", 4096);
    ASSERT_GE(fd, 0);
    const std::string get = "GET /pack HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
    stalled.push_back(fd);
  }
  // Each stalled response has filled its socket and its pipe: the server
  // has nowhere left to write for them.
  int answered = 0;
  for (int i = 0; i < 9; ++i) {
    auto r = transport::HttpRequest(absl::StrCat("http://127.0.0.1:", *port, "/api/v1/health"),
                                    {.timeout_seconds = 10});
    if (r.ok() && r->status == 200 && r->body == "ok") ++answered;
  }
  EXPECT_EQ(answered, 9) << "health answered while " << kStalled << " clients stall";
  EXPECT_EQ(ended.load(), 0) << "no stalled response can have been sent whole";
  for (int fd : stalled) close(fd);
  // Their producers learn the clients are gone at their next write.
  for (int i = 0; i < 200 && ended.load() < kStalled; ++i) usleep(50 * 1000);
  EXPECT_EQ(ended.load(), kStalled);
  EXPECT_EQ(cut.load(), kStalled);
  server.Stop();
}

// A file answered from its descriptor arrives whole, over HTTP (sendfile)
// and HTTPS, larger than one sending turn; HEAD gets its length and no
// body, and the connection is kept for the next request. A client that
// stops reading a file holds no thread and is cut off after the stall
// timeout.
TEST(HttpServerTest, ServesFilesFromTheirDescriptorWholeAndCutsOffStalledReaders) {
  std::string dir = test::MakeTempDir("files");
  std::string content(20 << 20, '\0');
  uint32_t x = 12345;
  for (char& c : content) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  ASSERT_TRUE(WriteFileAtomic(dir + "/blob", content).ok());
  ASSERT_TRUE(MakeCertificateAuthority(dir).ok());
  ASSERT_TRUE(MakeSiteCertificate(dir, "site", {"127.0.0.1"}).ok());
  auto handler = [&](const HttpRequest& r) {
    if (r.path != "/file") return HttpResponse::Text(200, "ok");
    HttpResponse out;
    out.content_type = "application/octet-stream";
    out.file = std::make_shared<OpenFile>(open((dir + "/blob").c_str(), O_RDONLY | O_CLOEXEC));
    return out;
  };
  for (bool tls : {false, true}) {
    HttpServerOptions options{
        .threads = 2, .max_connections_per_client = 4, .stall_timeout_seconds = 1};
    if (tls) {
      options.tls_cert = dir + "/site.pem";
      options.tls_key = dir + "/site.key";
      transport::SetTrustedCaFile(dir + "/ca.pem");
    }
    HttpServer server(handler, options);
    auto port = server.Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    server.Start();
    std::string base = absl::StrCat(tls ? "https" : "http", "://127.0.0.1:", *port);
    auto got = transport::HttpRequest(base + "/file");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body.size(), content.size()) << (tls ? "https" : "http");
    EXPECT_TRUE(got->body == content) << "the bytes served are the file's";
    if (!tls) {
      RawReply head = Exchange(*port,
                               "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      EXPECT_NE(head.text.find(absl::StrCat("Content-Length: ", content.size())), std::string::npos)
          << head.text;
      size_t second = head.text.find("\r\n\r\nHTTP/1.1 200 OK\r\n");
      EXPECT_NE(second, std::string::npos) << "no body after the HEAD answer: " << head.text;
      EXPECT_TRUE(head.text.size() >= 2 && head.text.compare(head.text.size() - 2, 2, "ok") == 0)
          << "the next request on the connection is served: " << head.text;
      EXPECT_LT(head.text.size(), size_t{4096});
      // Stalled readers from 127.0.0.3: their sockets fill, the server goes
      // on serving others, and cuts them off once nothing has moved for a
      // second. Their address may hold 4 connections, so a fifth from it is
      // served only once the server has let them go.
      std::vector<int> stalled;
      for (int i = 0; i < 4; ++i) {
        int fd = Connect(*port, "127.0.0.3", 4096);
        ASSERT_GE(fd, 0);
        const std::string get = "GET /file HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
        stalled.push_back(fd);
      }
      int answered = 0;
      for (int i = 0; i < 9; ++i) {
        auto r = transport::HttpRequest(base + "/health", {.timeout_seconds = 10});
        if (r.ok() && r->status == 200 && r->body == "ok") ++answered;
      }
      EXPECT_EQ(answered, 9) << "health answered while 4 clients stall on a file";
      EXPECT_TRUE(test::WaitFor(
          [&] {
            int fd = Connect(*port, "127.0.0.3");
            if (fd < 0) return false;
            const std::string get = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            (void)!write(fd, get.data(), get.size());
            RawReply reply = ReadAll(fd);
            close(fd);
            return reply.text.rfind("HTTP/1.1 200", 0) == 0;
          },
          30))
          << "the stalled readers are let go";
      for (int fd : stalled) {
        RawReply partial = ReadAll(fd);
        close(fd);
        EXPECT_TRUE(partial.closed) << "a stalled reader is cut off";
        EXPECT_LT(partial.text.size(), content.size()) << "and never gets the whole file";
      }
    }
    transport::SetTrustedCaFile("");
    server.Stop();
  }
}

// Past the per-client or the total limit a connection is answered 503 and
// closed; other clients are still served, and slots free up as
// connections close.
TEST(HttpServerTest, ConnectionsAreLimitedPerClientAndInTotal) {
  HttpServer server(
      [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); },
      HttpServerOptions{.threads = 2, .max_connections = 12, .max_connections_per_client = 8});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  auto served_from = [&](const char* from) {
    int fd = Connect(*port, from);
    if (fd < 0) return std::string("refused");
    const std::string get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)!write(fd, get.data(), get.size());
    RawReply reply = ReadAll(fd);
    close(fd);
    return reply.text.substr(0, reply.text.find("\r\n"));
  };
  std::vector<int> held;
  // A connection held open from `from` (a failed connect is retried: every
  // count below assumes each one is in place).
  auto hold = [&](const char* from) {
    int fd = -1;
    for (int attempt = 0; attempt < 50 && fd < 0; ++attempt) {
      fd = Connect(*port, from);
      if (fd < 0) usleep(20 * 1000);
    }
    ASSERT_GE(fd, 0) << "connect from " << from << ": " << strerror(errno);
    held.push_back(fd);
  };
  for (int i = 0; i < 8; ++i) hold("127.0.0.2");
  // An idle connection is admitted at accept; wait until the server has
  // counted all eight (the ninth from the same address is then refused).
  std::string ninth;
  for (int i = 0; i < 600; ++i) {  // up to 30 s: the server may be slow under load
    ninth = served_from("127.0.0.2");
    if (ninth.find("503") != std::string::npos) break;
    usleep(50 * 1000);
  }
  EXPECT_EQ(ninth, "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(served_from("127.0.0.1"), "HTTP/1.1 200 OK");
  for (int i = 0; i < 4; ++i) hold("127.0.0.3");
  std::string over_total;
  for (int i = 0; i < 600; ++i) {
    over_total = served_from("127.0.0.4");
    if (over_total.find("503") != std::string::npos) break;
    usleep(50 * 1000);
  }
  EXPECT_EQ(over_total, "HTTP/1.1 503 Service Unavailable") << "12 connections are the total";
  for (int fd : held) close(fd);
  std::string again;
  for (int i = 0; i < 100; ++i) {
    again = served_from("127.0.0.2");
    if (again.find("200") != std::string::npos) break;
    usleep(50 * 1000);
  }
  EXPECT_EQ(again, "HTTP/1.1 200 OK") << "slots are freed when connections close";
  server.Stop();
}

// A header that never completes, and a body that stops coming, are cut off.
TEST(HttpServerTest, AClientThatStopsSendingIsCutOff) {
  std::atomic<int> calls{0};
  HttpServer server(
      [&](const HttpRequest&) {
        ++calls;
        return HttpResponse::Text(200, "ok");
      },
      HttpServerOptions{.threads = 1, .header_timeout_seconds = 1, .stall_timeout_seconds = 1});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  for (const char* partial : {"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                              "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"}) {
    int fd = Connect(*port);
    ASSERT_GE(fd, 0);
    (void)!write(fd, partial, strlen(partial));
    RawReply reply = ReadAll(fd);  // up to 10 s
    close(fd);
    EXPECT_TRUE(reply.closed) << partial;
    EXPECT_EQ(reply.text, "") << partial;
  }
  EXPECT_EQ(calls.load(), 0);
  server.Stop();
}

// The route is known from the header: an unknown route is refused without
// its body being read, and a body over the route's limit is a 413.
TEST(HttpServerTest, RequestsAreAdmittedOnTheirHeaderBeforeTheBody) {
  std::atomic<int> calls{0};
  HttpServer server(
      [&](const HttpRequest& r) {
        ++calls;
        return HttpResponse::Text(200, absl::StrCat("got ", r.body.size()));
      },
      HttpServerOptions{.threads = 1, .admit = [](const HttpRequest& head) {
                          if (head.path == "/small") return Admission{10, {}};
                          return Admission{0, HttpResponse::Error(404, "NOT_FOUND", "no route")};
                        }});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  // 256 MiB announced, none sent: the answer comes without the body.
  RawReply unknown =
      Exchange(*port, "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 268435456\r\n\r\n");
  EXPECT_EQ(unknown.text.rfind("HTTP/1.1 404", 0), 0u) << unknown.text;
  EXPECT_TRUE(unknown.closed) << "its body was never read: the connection cannot be reused";
  RawReply big = Exchange(*port, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                                     std::string(100, 'b'));
  EXPECT_EQ(big.text.rfind("HTTP/1.1 413", 0), 0u) << big.text;
  RawReply fits = Exchange(*port,
                           "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\nhello");
  EXPECT_NE(fits.text.find("got 5"), std::string::npos) << fits.text;
  EXPECT_EQ(calls.load(), 1);
  server.Stop();
}

// A route that asks for its body on disk gets it in an unlinked file,
// mapped, byte for byte (sent whole or chunked); nothing is left in the
// spool folder, and a body that does not fit on the disk is a 507.
TEST(HttpServerTest, LargeBodiesAreReceivedOnDiskNotInMemory) {
  std::string dir = test::MakeTempDir("spool");
  std::atomic<int> spooled{0};
  HttpServer server(
      [&](const HttpRequest& r) {
        if (r.spooled) ++spooled;
        return HttpResponse::Text(
            200, absl::StrCat(r.spooled ? "disk " : "memory ", r.Body().size(), " ",
                              Sha256Hex(r.Body()), " ", r.body.size()));
      },
      HttpServerOptions{.threads = 2,
                        .admit =
                            [](const HttpRequest& head) {
                              return Admission{uint64_t{64} << 20, {}, head.path == "/big"};
                            },
                        .spool_dir = dir});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  std::string base = absl::StrCat("http://127.0.0.1:", *port);
  std::string body(24 << 20, '\0');
  uint32_t x = 99;
  for (char& c : body) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  auto big = transport::HttpRequest(base + "/big", {.method = "POST", .body = body});
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body, absl::StrCat("disk ", body.size(), " ", Sha256Hex(body), " 0"));
  auto small = transport::HttpRequest(base + "/small", {.method = "POST", .body = "abc"});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->body, absl::StrCat("memory 3 ", Sha256Hex("abc"), " 3"));
  // Chunked, as git sends a large push.
  RawReply chunked = Exchange(*port,
                              "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_NE(chunked.text.find(absl::StrCat("disk 11 ", Sha256Hex("hello world"), " 0")),
            std::string::npos)
      << chunked.text;
  auto empty = transport::HttpRequest(base + "/big", {.method = "POST"});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->body.substr(0, 7), "memory ") << "an empty body needs no file";
  EXPECT_EQ(spooled.load(), 2);
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(dir, ec)) << "a spooled body leaves no name behind";
  server.Stop();

  // A spool folder on a full disk: a 1 MiB tmpfs.
  std::string full = dir + "/full";
  std::filesystem::create_directories(full);
  if (georep::Run({"mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full})->exit_code == 0) {
    HttpServer tight(
        [](const HttpRequest& r) { return HttpResponse::Text(200, absl::StrCat(r.Body().size())); },
        HttpServerOptions{.threads = 1,
                          .admit =
                              [](const HttpRequest&) {
                                return Admission{64 << 20, {}, true};
                              },
                          .spool_dir = full});
    auto tport = tight.Listen("127.0.0.1", 0);
    ASSERT_TRUE(tport.ok());
    tight.Start();
    auto refused = transport::HttpRequest(absl::StrCat("http://127.0.0.1:", *tport, "/big"),
                                          {.method = "POST", .body = body, .timeout_seconds = 30});
    EXPECT_TRUE(!refused.ok() || refused->status == 507) << refused->status << " " << refused->body;
    if (refused.ok()) {
      EXPECT_NE(refused->body.find("No space left"), std::string::npos) << refused->body;
    }
    auto fits = transport::HttpRequest(absl::StrCat("http://127.0.0.1:", *tport, "/big"),
                                       {.method = "POST", .body = std::string(1000, 'f')});
    ASSERT_TRUE(fits.ok());
    EXPECT_EQ(fits->body, "1000") << "the space of a refused body is given back";
    tight.Stop();
    (void)georep::Run({"umount", full});
  }
  test::RemoveTree(dir);
}

// HTTPS: a client that trusts the sites' CA is served; one that trusts
// another CA, or speaks plain HTTP to the TLS port, is not.
TEST(HttpServerTest, ServesHttpsWithACertificateTheClientChecks) {
  std::string dir = test::MakeTempDir("tls");
  ASSERT_TRUE(MakeCertificateAuthority(dir).ok());
  ASSERT_TRUE(MakeSiteCertificate(dir, "site", {"127.0.0.1", "localhost"}).ok());
  std::string other = test::MakeTempDir("tls-other");
  ASSERT_TRUE(MakeCertificateAuthority(other).ok());

  HttpServer bad_key(
      [](const HttpRequest&) { return HttpResponse::Text(200, ""); },
      HttpServerOptions{.tls_cert = dir + "/site.pem", .tls_key = dir + "/nope.key"});
  auto refused = bad_key.Listen("127.0.0.1", 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("nope.key"), std::string::npos) << refused.status();

  HttpServer server(
      [](const HttpRequest& r) { return HttpResponse::Text(200, "secure " + r.body); },
      HttpServerOptions{.threads = 2, .tls_cert = dir + "/site.pem", .tls_key = dir + "/site.key"});
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  std::string url = absl::StrCat("https://127.0.0.1:", *port, "/x");

  transport::SetTrustedCaFile(dir + "/ca.pem");
  auto ok = transport::HttpRequest(url, {.method = "POST", .body = "hello"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->body, "secure hello");
  // Served as "localhost" too: the certificate names both.
  auto by_name = transport::HttpRequest(absl::StrCat("https://localhost:", *port, "/x"));
  ASSERT_TRUE(by_name.ok()) << by_name.status();

  transport::SetTrustedCaFile(other + "/ca.pem");
  auto untrusted = transport::HttpRequest(url);
  EXPECT_FALSE(untrusted.ok()) << "a certificate from another CA is refused";
  transport::SetTrustedCaFile("");

  auto plain = transport::HttpRequest(absl::StrCat("http://127.0.0.1:", *port, "/x"),
                                      {.timeout_seconds = 10});
  EXPECT_TRUE(!plain.ok() || plain->status != 200) << "plain HTTP is not served on a TLS port";
  server.Stop();
}

TEST(HttpServerTest, ListenOnBusyPortFailsClearly) {
  HttpServer a([](const HttpRequest&) { return HttpResponse::Text(200, ""); }, 1);
  auto port = a.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  HttpServer b([](const HttpRequest&) { return HttpResponse::Text(200, ""); }, 1);
  auto again = b.Listen("127.0.0.1", *port);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(absl::StrCat(*port)), std::string::npos)
      << again.status();
}

}  // namespace
}  // namespace georep::api
