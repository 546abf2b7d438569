#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace georep::test {
namespace {

// Closes with a reset, as a cut cable would leave the peer to find out.
void Reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

}  // namespace

TcpProxy::TcpProxy(int target_port, int64_t bytes_per_second)
    : target_port_(target_port), rate_(bytes_per_second) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 128) != 0) {
    return;
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  ++generation_;
  if (acceptor_.joinable()) acceptor_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> l(mu_);
  for (auto& t : relays_) t.join();
}

void TcpProxy::Cut() {
  cut_ = true;
  ++generation_;
}

void TcpProxy::Heal() { cut_ = false; }

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (cut_) {
      ++refused_;
      // Reset once the client has sent its first bytes (up to 1 s): a reset
      // at once can reach the client before its connect() completes, which
      // it then reports as "could not connect", a site not reached at all,
      // not a connection that broke.
      pollfd first{client, POLLIN, 0};
      (void)poll(&first, 1, 1000);
      Reset(client);
      continue;
    }
    ++accepted_;
    std::lock_guard<std::mutex> l(mu_);
    relays_.emplace_back([this, client] { Relay(client); });
  }
}

void TcpProxy::Relay(int client) {
  const int64_t generation = generation_;
  int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Reset(client);
    close(server);
    return;
  }
  int one = 1;
  setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int64_t sent = 0;
  char buf[16 * 1024];
  bool open[2] = {true, true};  // client→server, server→client
  while ((open[0] || open[1]) && !stop_ && generation_ == generation) {
    pollfd p[2] = {{client, static_cast<short>(open[0] ? POLLIN : 0), 0},
                   {server, static_cast<short>(open[1] ? POLLIN : 0), 0}};
    if (poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? client : server, to = i == 0 ? server : client;
      ssize_t n = read(from, buf, sizeof buf);
      if (n <= 0) {
        open[i] = false;
        shutdown(to, SHUT_WR);
        continue;
      }
      for (ssize_t done = 0; done < n;) {
        ssize_t w = write(to, buf + done, static_cast<size_t>(n - done));
        if (w <= 0) {
          open[0] = open[1] = false;
          break;
        }
        done += w;
      }
      bytes_ += n;
      sent += n;
      // A slow link: hold back until the rate allows what was sent.
      while (rate_ > 0 && generation_ == generation && !stop_) {
        double allowed = std::chrono::duration<double>(Clock::now() - start).count() * rate_;
        if (static_cast<double>(sent) <= allowed) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  if (generation_ != generation) {
    Reset(client);
    Reset(server);
  } else {
    close(client);
    close(server);
  }
}

}  // namespace georep::test
