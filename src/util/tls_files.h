// Certificates for HTTPS between sites, made with the openssl command-line
// tool: a private CA, and site certificates it signs. For `georep demo up
// --tls` and the tests; a real deployment brings its own.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace georep {

// Writes `dir`/ca.pem and `dir`/ca.key (an EC P-256 CA valid ten years),
// unless ca.pem is there already.
absl::Status MakeCertificateAuthority(const std::string& dir);

// Writes `dir`/`name`.pem and `dir`/`name`.key: a server certificate signed
// by the CA in `dir`, for `hosts` (IP addresses or DNS names, its subject
// alternative names).
absl::Status MakeSiteCertificate(const std::string& dir, const std::string& name,
                                 const std::vector<std::string>& hosts);

}  // namespace georep
