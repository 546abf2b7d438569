#include "util/tls_files.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/subprocess.h"

namespace georep {
namespace {

bool IsAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

absl::Status MakeCertificateAuthority(const std::string& dir) {
  std::string ca = dir + "/ca.pem";
  if (access(ca.c_str(), R_OK) == 0) return absl::OkStatus();
  auto made = RunChecked({"openssl",
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:prime256v1",
                          "-nodes",
                          "-keyout",
                          dir + "/ca.key",
                          "-out",
                          ca,
                          "-days",
                          "3650",
                          "-subj",
                          "/CN=Georep sites CA",
                          "-addext",
                          "basicConstraints=critical,CA:TRUE",
                          "-addext",
                          "keyUsage=critical,keyCertSign,cRLSign"});
  if (!made.ok()) return made.status();
  chmod((dir + "/ca.key").c_str(), 0600);
  return absl::OkStatus();
}

absl::Status MakeSiteCertificate(const std::string& dir, const std::string& name,
                                 const std::vector<std::string>& hosts) {
  std::vector<std::string> names;
  for (const std::string& h : hosts) names.push_back((IsAddress(h) ? "IP:" : "DNS:") + h);
  std::string base = absl::StrCat(dir, "/", name);
  std::string ext = base + ".ext";
  {
    std::ofstream out(ext);
    out << "subjectAltName=" << absl::StrJoin(names, ",") << "\n"
        << "basicConstraints=critical,CA:FALSE\n"
        << "keyUsage=critical,digitalSignature,keyEncipherment\n"
        << "extendedKeyUsage=serverAuth\n";
    if (!out) return absl::PermissionDeniedError("cannot write " + ext);
  }
  auto request = RunChecked({"openssl", "req", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", base + ".key",
                             "-out", base + ".csr", "-subj", "/CN=" + name});
  if (!request.ok()) return request.status();
  auto signed_cert = RunChecked({"openssl", "x509", "-req", "-in", base + ".csr", "-CA",
                                 dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
                                 "-out", base + ".pem", "-days", "825", "-extfile", ext});
  if (!signed_cert.ok()) return signed_cert.status();
  chmod((base + ".key").c_str(), 0600);
  unlink((base + ".csr").c_str());
  unlink(ext.c_str());
  return absl::OkStatus();
}

}  // namespace georep
