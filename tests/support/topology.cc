#include "support/topology.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"

namespace georep::test {

Topology::Topology(std::vector<std::string> up_args, std::vector<std::string> env)
    : env_(std::move(env)) {
  root_ = MakeTempDir("e2e");
  dir_ = root_ + "/demo";
  ok_ = Up(std::move(up_args));
  // Git over HTTP needs an access token: one for every project, that the
  // test helpers send.
  if (ok_) {
    auto minted =
        Admin("primary", "POST", "/api/v1/sample/tokens", R"({"scope": "*", "access": "write"})");
    auto j = nlohmann::json::parse(minted.body, nullptr, false);
    EXPECT_EQ(minted.status, 201) << minted.body;
    if (minted.status == 201 && j.is_object()) SetGitToken(j.value("token", ""));
  }
}

Topology::~Topology() {
  // A failed test shows what each daemon said last: under CI's load that is
  // often the only account of a wait that timed out.
  if (::testing::Test::HasFailure() && topology_.contains("sites")) {
    for (const auto& s : topology_["sites"]) {
      if (!s.contains("log") || !s["log"].is_string()) continue;
      std::string log = ReadFile(s["log"].get<std::string>()).value_or("");
      size_t from = log.size();
      for (int lines = 0; lines < 60 && from > 0; ++lines) {
        from = log.rfind('\n', from - 1);
        if (from == std::string::npos) {
          from = 0;
          break;
        }
      }
      std::fprintf(stderr, "---- last lines of %s's daemon log ----\n%s\n",
                   s["name"].get<std::string>().c_str(), log.substr(from).c_str());
    }
  }
  auto down = RunGeorep({"demo", "down", "--dir", dir_}, env_);
  EXPECT_EQ(down.exit_code, 0) << down.output;
  if (topology_.contains("sites")) {
    for (const auto& s : topology_["sites"]) {
      EXPECT_FALSE(ProcessAlive(s["pid"].get<int>())) << "daemon of " << s["name"] << " still runs";
    }
  }
  RemoveTree(root_);
}

bool Topology::Up(std::vector<std::string> extra_args) {
  std::vector<std::string> args = {"demo", "up", "--dir", dir_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto up = RunGeorep(args, env_);
  up_output_ = up.output;
  EXPECT_EQ(up.exit_code, 0) << up.output;
  Reload();
  return up.exit_code == 0;
}

void Topology::Reload() {
  auto text = ReadFile(dir_ + "/topology.json");
  if (text.ok()) topology_ = nlohmann::json::parse(*text, nullptr, false);
  // An HTTPS topology: the test's own requests trust its CA.
  if (topology_.is_object() && topology_.value("tls", false)) {
    transport::SetTrustedCaFile(topology_.value("ca_file", ""));
  }
}

const nlohmann::json& Topology::Site(const std::string& name) const {
  static const nlohmann::json none;
  if (!topology_.contains("sites")) return none;
  for (const auto& s : topology_["sites"]) {
    if (s["name"] == name) return s;
  }
  return none;
}

std::unique_ptr<db::Connection> Topology::MainDb(const std::string& site) const {
  auto c = db::Connection::Open(Site(site)["main_db"].get<std::string>());
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

std::unique_ptr<db::Connection> Topology::TrackingDb(const std::string& site) const {
  auto c = db::Connection::Open(Site(site)["tracking_db"].get<std::string>());
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

nlohmann::json Topology::Status(const std::string& site) const {
  auto r = transport::HttpRequest(Url(site) + "/api/v1/status");
  if (!r.ok() || r->status != 200) return {};
  return nlohmann::json::parse(r->body, nullptr, false);
}

int64_t Topology::Count(const std::string& site, const std::string& replicable,
                        const std::string& state) const {
  nlohmann::json st = Status(site);
  if (st.is_null() || !st.contains("replicables")) return -1;
  for (const auto& r : st["replicables"]) {
    if (r["name"] == replicable && r.contains(state)) return r[state].get<int64_t>();
  }
  return -1;
}

int64_t Topology::TotalCount(const std::string& site, const std::string& state) const {
  nlohmann::json st = Status(site);
  if (st.is_null() || !st.contains("replicables")) return -1;
  int64_t total = 0;
  for (const auto& r : st["replicables"]) {
    if (r.contains(state)) total += r[state].get<int64_t>();
  }
  return total;
}

transport::HttpResult Topology::Post(const std::string& site, const std::string& path,
                                     const std::string& body) const {
  return Request(site, "POST", path, body);
}

transport::HttpResult Topology::Request(const std::string& site, const std::string& method,
                                        const std::string& path, const std::string& body,
                                        const std::vector<std::string>& headers) const {
  std::vector<std::string> sent = headers;
  bool authorized = false;
  for (const auto& h : headers)
    authorized = authorized || absl::StartsWithIgnoreCase(h, "authorization:");
  // The sample forge's writes need credentials: the topology's write token.
  if (!authorized && path.starts_with("/api/v1/sample/") && method != "GET" && method != "HEAD" &&
      !GitTokenHeader().empty())
    sent.push_back(GitTokenHeader());
  auto r = transport::HttpRequest(Url(site) + path, {method, body, sent, 30});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : transport::HttpResult{};
}

std::string Topology::AdminToken(const std::string& site) const {
  std::string dir = Config(site).substr(0, Config(site).rfind('/'));
  std::string token = ReadFile(dir + "/admin-token").value_or("");
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  return token;
}

transport::HttpResult Topology::Admin(const std::string& site, const std::string& method,
                                      const std::string& path, const std::string& body) const {
  return Request(site, method, path, body, {"Authorization: Bearer " + AdminToken(site)});
}

double Topology::MetricSum(const std::string& site, const std::string& name,
                           const std::string& label) const {
  auto m = Request(site, "GET", "/metrics");
  double total = 0;
  size_t at = 0;
  while ((at = m.body.find(name, at)) != std::string::npos) {
    size_t end = m.body.find('\n', at);
    std::string line = m.body.substr(at, end - at);
    bool line_start = at == 0 || m.body[at - 1] == '\n';
    at = end;
    if (!line_start) continue;  // in a # HELP or # TYPE line
    // The metric itself, not one whose name starts with it.
    char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

}  // namespace georep::test
