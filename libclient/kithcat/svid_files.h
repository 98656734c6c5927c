// kithcat --svid DIR: writes a workload's X.509-SVID as files a TLS program
// can be pointed at (the layout spiffe-helper uses):
//
//   DIR/svid.pem     the chain: the SVID, then the node CA       0644
//   DIR/svid.key     the SVID's private key, PKCS#8 PEM            0600
//   DIR/bundle.pem   the trust bundle (the trust domain's root)    0644
//
// Each file is written to a temporary name, fsynced and renamed, so a reader
// never sees half a certificate and the key and certificate of one SVID
// replace the previous pair file by file. DIR is created 0700 if missing.
#pragma once

#include <string>

#include "kith/kith.hpp"

namespace kith::kithcat {

// Returns "" on success, else what failed.
std::string writeSvidFiles(const std::string& dir, const Svid& svid);

}  // namespace kith::kithcat
