// On-disk layouts of a CA and of a node identity, as `kithctl ca init`,
// `kithctl ca issue-node` and `kithd --dev` use them.
//
//   CA dir (0700):   root.key (0600)  root.crt  trust_domain
//   node dir (0700): node.key (0600)  node.crt  node-ca.crt  ca.crt  machine  trust_domain
//
// node.crt is the node's TLS certificate (CA:FALSE), node-ca.crt certifies the
// same key as a path-length-0 CA so the node can issue workload SVIDs, and ca.crt
// is the root certificate: the trust bundle. Text files hold one line.
// Key files are refused when group or others may access them (see keys.h).
// Files are written atomically; a CA or node key is never silently replaced.
//
// Thread rules: plain blocking file I/O; call before the event loop starts or
// from a worker thread. Two processes initialising the same directory at once
// cannot both win: the key file is created exclusively.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/identity/ca.h"
#include "kith/identity/keys.h"

namespace kith::identity {

inline constexpr std::string_view kRootKeyFile = "root.key";
inline constexpr std::string_view kRootCertFile = "root.crt";
inline constexpr std::string_view kTrustDomainFile = "trust_domain";
inline constexpr std::string_view kNodeKeyFile = "node.key";
inline constexpr std::string_view kNodeCertFile = "node.crt";
inline constexpr std::string_view kNodeCaCertFile = "node-ca.crt";
inline constexpr std::string_view kBundleFile = "ca.crt";
inline constexpr std::string_view kMachineFile = "machine";
// Dev identities are renewed when they expire within this; `kithctl doctor`
// warns at the same horizon.
inline constexpr int64_t kRenewBeforeSeconds = 30 * kDaySeconds;

// Creates a CA for `trustDomain` in `dir` (created 0700 if missing; its parent
// must exist). Refuses a directory that already holds a CA.
Status initCa(const std::string& dir, std::string_view trustDomain,
              const IssueOptions& opts = {});
// Loads and cross-checks a CA directory (key matches certificate, trust_domain
// file agrees with the certificate).
Result<CertificateAuthority> loadCa(const std::string& dir);

// Generates a node key for `machine` and writes a node directory into `outDir`
// (created 0700 if missing). Refuses to replace an existing node.key unless
// `replace`.
Status issueNode(const std::string& caDir, std::string_view machine, const std::string& outDir,
                 const IssueOptions& opts = {}, bool replace = false);

// A node's loaded identity. Move-only (owns the node key).
struct NodeIdentity {
  SigningKey key;
  std::string certPem;    // node.crt
  std::string nodeCaPem;  // node-ca.crt; empty when the directory has none
  std::string rootPem;    // ca.crt (trust bundle)
  std::string machine;
  std::string trustDomain;
  std::string spiffeId;   // spiffe://TD/node/MACHINE
  int64_t certNotBefore = 0;  // Unix seconds
  int64_t certNotAfter = 0;
  int64_t nodeCaNotAfter = 0;  // 0 without node-ca.crt
  int64_t rootNotAfter = 0;

  // The earliest expiry among the certificates above (what doctor watches).
  int64_t earliestExpiry() const;
  // A CA able to issue SVIDs for this node's workloads (needs node-ca.crt).
  Result<CertificateAuthority> svidIssuer() const;

  // Loads `nodeDir` and cross-checks it: the key matches node.crt; node.crt (and
  // node-ca.crt) verify against ca.crt now; their URI SAN is
  // spiffe://TD/node/MACHINE with MACHINE and TD from the text files.
  static Result<NodeIdentity> load(const std::string& nodeDir);
};

struct DevIdentity {
  std::string caDir;    // HOME/ca
  std::string nodeDir;  // HOME/node
  bool createdCa = false;
  bool issuedNode = false;  // a node identity was (re)issued by this call
  NodeIdentity node;
};

// `kithd --dev`: makes sure HOME/ca holds a CA for `trustDomain` and HOME/node an
// identity for `machine` issued by it, creating what is missing (HOME and both
// directories 0700). An existing node identity is kept when it loads, names
// `machine`, and expires later than kRenewBeforeSeconds from now; otherwise (a
// renamed machine, a new CA, an expiring certificate) a new one is issued. An
// existing CA for another trust domain is an error. `clock` (nullptr: the system
// clock) dates new certificates and decides renewal; verification while loading
// always uses the system time.
Result<DevIdentity> ensureDevIdentity(const std::string& home, std::string_view machine,
                                      std::string_view trustDomain,
                                      const Clock* clock = nullptr);

}  // namespace kith::identity
