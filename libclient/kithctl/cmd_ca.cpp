// kithctl ca init --trust-domain TD --out DIR [--validity-days N]
// kithctl ca issue-node MACHINE --ca DIR --out DIR [--validity-days N] [--replace]
// kithctl ca csr MACHINE --out DIR [--reuse-key]                (on the node)
// kithctl ca sign-csr CSR --machine MACHINE --ca DIR --out DIR [--validity-days N]
//
// Offline commands: they never talk to a daemon. The trust domain's root key
// lives in the CA directory (identity/ca_dir.h has the layouts); `issue-node`
// makes a whole node directory on the CA machine, while `csr` + `sign-csr` let
// a node keep its key: the node sends only node.csr, and the CA certifies the
// CSR's public key for the machine named by --machine (the CSR's own names are
// ignored). Both node paths also write `deleg`, the root-signed record that
// binds the machine to its node key for replication (docs/REPLICATION.md).
// Exit status: 0 done, 1 refused (an existing CA or key, a bad CSR, a key file
// readable by others...), 2 usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/json.h"
#include "kith/common/unique_fd.h"
#include "kith/identity/ca_dir.h"
#include "kith/identity/cert.h"
#include "kith/identity/csr.h"
#include "kith/identity/spiffe.h"
#include "kith/replication/record.h"
#include "kith/replication/signer.h"

namespace kith::kithctl {
namespace {

namespace id = kith::identity;
using nlohmann::json;

inline constexpr const char* kCsrFile = "node.csr";
// The root-signed deleg record binding the machine to its node key
// (docs/REPLICATION.md): one signed line, what a node sends in HELLO.
inline constexpr const char* kDelegFile = "deleg";

struct Args {
  std::string trustDomain, out, caDir, machine, csr;
  int validityDays = 0;  // 0: the default for the kind of certificate
  bool replace = false;
  bool reuseKey = false;
};

std::string join(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

// The name printed for a failure: the socket API's code, or the internal
// category (kithctl(8): "kithctl: CODE: message").
std::string errorName(const Status& st) {
  switch (st.code()) {
    case Code::kIo: return "IO";
    case Code::kStorage: return "STORAGE";
    case Code::kConfig: return "CONFIG";
    case Code::kCrypto: return "CRYPTO";
    case Code::kNotFound: return "NOT_FOUND";
    default: return std::string(codeName(st.code()));
  }
}

int refusedWith(const Globals& g, const Status& st) {
  std::fprintf(stderr, "kithctl: %s: %s\n", errorName(st).c_str(), st.message().c_str());
  if (g.json) {
    std::printf("%s\n", dumpJson(json({{"ok", false}, {"error", {{"code", errorName(st)}, {"message", st.message()}}}})).c_str());
  }
  return kExitRefused;
}

id::IssueOptions issueOptions(const Args& a) {
  id::IssueOptions o;
  o.validitySeconds = static_cast<int64_t>(a.validityDays) * id::kDaySeconds;
  return o;
}

// Creates `dir` 0700 if missing (its parent must exist); an existing directory
// is used as it is.
Status makeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Status::ok();
  struct stat st{};
  if (errno == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::ok();
  return Status::fromErrno("mkdir " + dir, errno);
}

// Writes `content` to `path` with `mode`, atomically (temp file, fsync, rename,
// fsync of the directory): a reader sees the old file or the new one.
Status writeFile(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return Status::fromErrno("create " + tmp, errno);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return Status::fromErrno("write " + tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::fromErrno("write " + path, err);
  }
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  UniqueFd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return Status::ok();
}

Result<std::string> readFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return Status::notFound(path + ": no such file");
    return Status::fromErrno("open " + path, errno);
  }
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::fromErrno("read " + path, errno);
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) return Status::badRequest(path + ": larger than 1 MiB; not a CSR");
  }
  return out;
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

// One line per file: "  name  what".
void listFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  size_t w = 0;
  for (const auto& f : files) w = std::max(w, f.first.size());
  for (const auto& f : files) {
    std::printf("  %-*s  %s\n", static_cast<int>(w), f.first.c_str(), f.second.c_str());
  }
}

json fileNames(const std::vector<std::pair<std::string, std::string>>& files) {
  json names = json::array();
  for (const auto& f : files) names.push_back(f.first);
  return names;
}

// ---- ca init ---------------------------------------------------------------

int init(const Globals& g, const Args& a) {
  Status st = id::initCa(a.out, a.trustDomain, issueOptions(a));
  if (!st.isOk()) return refusedWith(g, st);
  auto ca = id::loadCa(a.out);
  if (!ca) return refusedWith(g, ca.status());
  const auto& info = ca->info();
  std::string fingerprint = toHex(ca->key().publicKey().data(), ca->key().publicKey().size());
  std::vector<std::pair<std::string, std::string>> files = {
      {std::string(id::kRootKeyFile), "root private key (0600): keep it offline, back it up"},
      {std::string(id::kRootCertFile), "root certificate " + info.uriSans.front() + ", valid until " +
                                           formatSecondsIso(info.notAfter)},
      {std::string(id::kTrustDomainFile), a.trustDomain},
  };
  if (g.json) {
    std::printf("%s\n", dumpJson(json({{"ok", true},
                              {"dir", a.out},
                              {"trust_domain", a.trustDomain},
                              {"spiffe_id", info.uriSans.front()},
                              {"root_key", fingerprint},
                              {"serial", info.serialHex},
                              {"not_before", info.notBefore},
                              {"not_after", info.notAfter},
                              {"files", fileNames(files)}})).c_str());
    return kExitOk;
  }
  std::printf("created the CA of trust domain %s in %s\n", a.trustDomain.c_str(), a.out.c_str());
  listFiles(files);
  std::printf("root public key: %s\n", fingerprint.c_str());
  std::printf("next: kithctl ca issue-node MACHINE --ca %s --out NODE_DIR   (for each machine)\n",
              a.out.c_str());
  return kExitOk;
}

// ---- the node directory written by issue-node and sign-csr ------------------

struct NodeFacts {
  std::string spiffeId;
  std::string publicKeyHex;
  id::CertificateInfo cert;
};

Result<NodeFacts> describeNode(const std::string& certPem) {
  auto info = id::parseCertificatePem(certPem);
  if (!info) return info.status();
  NodeFacts f;
  f.spiffeId = info->uriSans.empty() ? "" : info->uriSans.front();
  f.publicKeyHex = toHex(info->publicKey.data(), info->publicKey.size());
  f.cert = std::move(*info);
  return f;
}

std::vector<std::pair<std::string, std::string>> nodeFiles(const NodeFacts& f, const std::string& machine,
                                                           const std::string& trustDomain, bool withKey) {
  std::vector<std::pair<std::string, std::string>> files;
  if (withKey) files.push_back({std::string(id::kNodeKeyFile), "node private key (0600)"});
  files.push_back({std::string(id::kNodeCertFile),
                   "node certificate " + f.spiffeId + ", valid until " + formatSecondsIso(f.cert.notAfter)});
  files.push_back({std::string(id::kNodeCaCertFile), "node CA certificate (issues workload SVIDs)"});
  files.push_back({std::string(id::kBundleFile), "trust bundle (the root certificate)"});
  files.push_back({std::string(id::kMachineFile), machine});
  files.push_back({std::string(id::kTrustDomainFile), trustDomain});
  files.push_back({kDelegFile, "root-signed deleg record: " + machine + " -> this node key"});
  return files;
}

int reportNode(const Globals& g, const std::string& verb, const std::string& machine, const std::string& dir,
               const NodeFacts& f, const std::vector<std::pair<std::string, std::string>>& files) {
  if (g.json) {
    std::printf("%s\n", dumpJson(json({{"ok", true},
                              {"dir", dir},
                              {"machine", machine},
                              {"spiffe_id", f.spiffeId},
                              {"node_key", f.publicKeyHex},
                              {"serial", f.cert.serialHex},
                              {"not_before", f.cert.notBefore},
                              {"not_after", f.cert.notAfter},
                              {"deleg", join(dir, kDelegFile)},
                              {"files", fileNames(files)}})).c_str());
    return kExitOk;
  }
  std::printf("%s the node identity of %s (%s) in %s\n", verb.c_str(), machine.c_str(), f.spiffeId.c_str(),
              dir.c_str());
  listFiles(files);
  std::printf("node public key: %s\n", f.publicKeyHex.c_str());
  return kExitOk;
}

// Writes DIR/deleg: `S <notBefore> <notAfter> 1 <sig> A TD . MACHINE deleg SEQ 1 <key>`,
// signed by the root, valid as long as the node certificate, seq = now in
// microseconds (a reissue always outranks the record it replaces, also within
// the same second; a running kithd takes it on SIGHUP).
Status writeDeleg(const id::CertificateAuthority& ca, const std::string& machine, const std::string& dir,
                  const NodeFacts& f) {
  auto seq = static_cast<uint64_t>(systemClock().nowMicros());
  replication::Record r = replication::makeDeleg(ca.trustDomain(), machine, seq, f.cert.publicKey);
  KITH_RETURN_IF_ERROR(replication::sign(r, ca.key(), f.cert.notBefore, f.cert.notAfter));
  return writeFile(join(dir, kDelegFile), r.line + "\n", 0644);
}

// ---- ca issue-node ------------------------------------------------------------

int issueNode(const Globals& g, const Args& a) {
  Status st = id::issueNode(a.caDir, a.machine, a.out, issueOptions(a), a.replace);
  if (!st.isOk()) {
    if (!a.replace && exists(join(a.out, id::kNodeKeyFile)) &&
        st.message().find("exists") != std::string::npos) {
      st = Status::badRequest(a.out + " already holds a node key (" + std::string(id::kNodeKeyFile) +
                              "); refusing to replace it (--replace issues a new key)");
    }
    return refusedWith(g, st);
  }
  // Read back through the loader: what kithd will accept is what we report.
  auto node = id::NodeIdentity::load(a.out);
  if (!node) return refusedWith(g, node.status());
  auto f = describeNode(node->certPem);
  if (!f) return refusedWith(g, f.status());
  auto ca = id::loadCa(a.caDir);
  if (!ca) return refusedWith(g, ca.status());
  Status d = writeDeleg(*ca, a.machine, a.out, *f);
  if (!d.isOk()) return refusedWith(g, d);
  int rc = reportNode(g, a.replace ? "issued (replacing any previous one)" : "issued", a.machine, a.out, *f,
                      nodeFiles(*f, a.machine, node->trustDomain, true));
  if (!g.json) {
    std::printf("next: install %s on machine %s as its node directory (e.g. /var/lib/kith/node, 0700,\n"
                "      owned by kithd's user; node.key must stay 0600) and set [identity] node_dir in kithd.toml\n",
                a.out.c_str(), a.machine.c_str());
  }
  return rc;
}

// ---- ca csr (on the node) ----------------------------------------------------

int csr(const Globals& g, const Args& a) {
  Status v = id::validateMachineName(a.machine);
  if (!v.isOk()) return refusedWith(g, v);
  Status md = makeDir(a.out);
  if (!md.isOk()) return refusedWith(g, md);
  std::string keyPath = join(a.out, id::kNodeKeyFile);
  bool reused = false;
  std::optional<id::SigningKey> key;
  if (exists(keyPath)) {
    if (!a.reuseKey) {
      return refusedWith(g, Status::badRequest(a.out + " already holds a node key (" + keyPath +
                                               "); --reuse-key makes a CSR for it (renewal)"));
    }
    auto k = id::SigningKey::loadKeyFile(keyPath);
    if (!k) return refusedWith(g, k.status());
    key.emplace(std::move(*k));
    reused = true;
  } else {
    key.emplace(id::SigningKey::generate());
    Status s = key->saveKeyFile(keyPath, id::SigningKey::Write::kCreateOnly);
    if (!s.isOk()) return refusedWith(g, s);
  }
  auto pem = id::makeNodeCsr(*key, a.machine);
  if (!pem) return refusedWith(g, pem.status());
  std::string csrPath = join(a.out, kCsrFile);
  Status w = writeFile(csrPath, *pem, 0644);
  if (!w.isOk()) return refusedWith(g, w);
  std::string pub = toHex(key->publicKey().data(), key->publicKey().size());
  if (g.json) {
    std::printf("%s\n", dumpJson(json({{"ok", true},
                              {"dir", a.out},
                              {"machine", a.machine},
                              {"node_key", pub},
                              {"key_reused", reused},
                              {"csr", csrPath}})).c_str());
    return kExitOk;
  }
  std::printf("%s a node key and wrote a certificate request for %s in %s\n",
              reused ? "reused" : "generated", a.machine.c_str(), a.out.c_str());
  listFiles({{std::string(id::kNodeKeyFile), "node private key (0600): never leaves this machine"},
                    {kCsrFile, "certificate request: send it to the CA"}});
  std::printf("node public key: %s\n", pub.c_str());
  std::printf("next, on the CA: kithctl ca sign-csr node.csr --machine %s --ca CA_DIR --out OUT\n"
              "      then copy OUT/{node.crt,node-ca.crt,ca.crt,machine,trust_domain,deleg} into %s\n",
              a.machine.c_str(), a.out.c_str());
  return kExitOk;
}

// ---- ca sign-csr (on the CA) -------------------------------------------------

int signCsr(const Globals& g, const Args& a) {
  Status v = id::validateMachineName(a.machine);
  if (!v.isOk()) return refusedWith(g, v);
  auto ca = id::loadCa(a.caDir);
  if (!ca) return refusedWith(g, ca.status());
  auto pem = readFile(a.csr);
  if (!pem) return refusedWith(g, pem.status());
  auto pub = id::csrPublicKey(*pem);
  if (!pub) return refusedWith(g, Status(pub.status().code(), a.csr + ": " + pub.status().message()));
  // The names come from --machine, never from the CSR (signNodeCsr ignores them).
  auto cert = ca->signNodeCsr(*pem, a.machine, issueOptions(a));
  if (!cert) return refusedWith(g, cert.status());
  auto nodeCa = ca->issueNodeCaCertificate(*pub, a.machine, issueOptions(a));
  if (!nodeCa) return refusedWith(g, nodeCa.status());

  Status md = makeDir(a.out);
  if (!md.isOk()) return refusedWith(g, md);
  // Signing into the node's own directory (the CA and the node are one machine,
  // or a renewal): the certificate must be for the key already there.
  std::string keyPath = join(a.out, id::kNodeKeyFile);
  bool withKey = exists(keyPath);
  if (withKey) {
    auto k = id::SigningKey::loadKeyFile(keyPath);
    if (!k) return refusedWith(g, k.status());
    if (k->publicKey() != *pub) {
      return refusedWith(g, Status::badRequest(keyPath + " is not the key of " + a.csr +
                                               "; refusing to put a certificate for another key beside it"));
    }
  }
  const std::pair<std::string_view, std::string> kFiles[] = {
      {id::kNodeCertFile, *cert},
      {id::kNodeCaCertFile, *nodeCa},
      {id::kBundleFile, ca->certificatePem()},
      {id::kMachineFile, a.machine + "\n"},
      {id::kTrustDomainFile, ca->trustDomain() + "\n"},
  };
  for (const auto& [name, content] : kFiles) {
    Status w = writeFile(join(a.out, name), content, 0644);
    if (!w.isOk()) return refusedWith(g, w);
  }
  auto f = describeNode(*cert);
  if (!f) return refusedWith(g, f.status());
  Status d = writeDeleg(*ca, a.machine, a.out, *f);
  if (!d.isOk()) return refusedWith(g, d);
  int rc = reportNode(g, "signed", a.machine, a.out, *f, nodeFiles(*f, a.machine, ca->trustDomain(), false));
  if (!g.json) {
    if (withKey) {
      std::printf("next: %s is a complete node directory; set [identity] node_dir to it\n", a.out.c_str());
    } else {
      std::printf("next: copy these files into the node directory that holds node.key on %s\n",
                  a.machine.c_str());
    }
  }
  return rc;
}

// ---- wiring ----------------------------------------------------------------

void addValidity(CLI::App* cmd, Args* a, const char* what) {
  cmd->add_option("--validity-days", a->validityDays, what)->check(CLI::Range(1, 36500));
}

Action setup(CLI::App* sub, const Globals* g) {
  auto a = std::make_shared<Args>();
  sub->require_subcommand(1);
  sub->footer("Offline: no daemon is needed. Directory layouts: kithctl(8).");

  CLI::App* in = sub->add_subcommand("init", "Create a trust domain's root key and certificate in DIR");
  in->add_option("--trust-domain", a->trustDomain, "SPIFFE trust domain, e.g. example.org")->required();
  in->add_option("--out", a->out, "CA directory to create (0700; refused if it holds a CA)")
      ->required()
      ->type_name("DIR");
  addValidity(in, a.get(), "root certificate lifetime (default 3650)");
  in->fallthrough();

  CLI::App* iss = sub->add_subcommand(
      "issue-node", "Generate a node key and certificates for MACHINE, signed by the CA in --ca");
  iss->add_option("MACHINE", a->machine, "machine name (the last address label)")->required();
  iss->add_option("--ca", a->caDir, "CA directory (from ca init)")->required()->type_name("DIR");
  iss->add_option("--out", a->out, "node directory to write (0700)")->required()->type_name("DIR");
  addValidity(iss, a.get(), "certificate lifetime (default 365)");
  iss->add_flag("--replace", a->replace, "replace an existing node key in --out (a new key)");
  iss->fallthrough();

  CLI::App* req = sub->add_subcommand(
      "csr", "On the node: generate node.key (0600) and a certificate request node.csr in --out");
  req->add_option("MACHINE", a->machine, "this machine's name")->required();
  req->add_option("--out", a->out, "node directory (0700)")->required()->type_name("DIR");
  req->add_flag("--reuse-key", a->reuseKey, "make the request for the node.key already in --out (renewal)");
  req->fallthrough();

  CLI::App* sign = sub->add_subcommand(
      "sign-csr", "On the CA: certify the key in CSR for --machine (the CSR's names are ignored)");
  sign->add_option("CSR", a->csr, "node.csr from `kithctl ca csr`")->required()->type_name("FILE");
  sign->add_option("--machine", a->machine, "the machine to certify the key for")->required();
  sign->add_option("--ca", a->caDir, "CA directory (from ca init)")->required()->type_name("DIR");
  sign->add_option("--out", a->out, "where to write the certificates (0700)")->required()->type_name("DIR");
  addValidity(sign, a.get(), "certificate lifetime (default 365)");
  sign->fallthrough();

  return [g, a, in, iss, req, sign]() {
    if (in->parsed()) return init(*g, *a);
    if (iss->parsed()) return issueNode(*g, *a);
    if (req->parsed()) return csr(*g, *a);
    if (sign->parsed()) return signCsr(*g, *a);
    return kExitUsage;
  };
}

}  // namespace

Command caCommand() {
  return {"ca", "Offline CA: create a trust domain, issue node identities, sign node CSRs", &setup};
}

}  // namespace kith::kithctl
