// A TCP proxy on loopback that a test controls, standing for the network
// between two sites: it relays each connection to 127.0.0.1:target_port,
// at most `bytes_per_second` each way if set; Cut() resets every
// connection at once and, until Heal(), resets each new one once the client
// has sent something (a broken connection, not a site that cannot be reached).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace georep::test {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port, int64_t bytes_per_second = 0);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Cut();
  void Heal();
  int64_t bytes() const { return bytes_; }           // relayed so far, both ways
  int64_t refused() const { return refused_; }       // connections refused while cut
  int64_t connections() const { return accepted_; }  // relayed connections

 private:
  void AcceptLoop();
  void Relay(int client);

  int target_port_;
  int64_t rate_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<int64_t> generation_{0};  // bumped by Cut: relays older than it end
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> relays_;
};

}  // namespace georep::test
