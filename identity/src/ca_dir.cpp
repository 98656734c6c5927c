#include "kith/identity/ca_dir.h"

#include <algorithm>
#include <optional>

#include "files.h"
#include "kith/common/log.h"
#include "kith/identity/cert.h"
#include "kith/identity/spiffe.h"

namespace kith::identity {
namespace {

std::string join(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

// Single-line text files: written with a newline, read back trimmed.
Status writeLine(const std::string& path, std::string_view value) {
  return files::writeAtomic(path, std::string(value) + "\n", 0644);
}

Result<std::string> readLine(const std::string& path) {
  auto text = files::read(path);
  if (!text) return text.status();
  std::string s = std::move(*text);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.find('\n') != std::string::npos) {
    return Status::badRequest(path + ": expected a single line");
  }
  return s;
}

Status withPath(const Status& st, const std::string& path) {
  if (st.isOk()) return st;
  if (st.message().find(path) != std::string::npos) return st;
  return Status(st.code(), path + ": " + st.message());
}

// The node certificate (or node CA certificate) checks shared by load().
Status checkNodeCert(const CertificateInfo& info, const std::string& path,
                     const NodeIdentity& node, bool wantCa) {
  if (info.isCa != wantCa) {
    return Status::badRequest(path + (wantCa ? ": is not a CA certificate" : ": is a CA certificate"));
  }
  if (!info.hasEd25519Key || info.publicKey != node.key.publicKey()) {
    return Status::badRequest(path + ": does not certify the key in node.key");
  }
  if (info.uriSans != std::vector<std::string>{node.spiffeId}) {
    std::string got = info.uriSans.empty() ? "none" : info.uriSans.front();
    return Status::badRequest(path + ": names " + got + ", expected " + node.spiffeId);
  }
  return Status::ok();
}

Status writeNodeDir(const std::string& outDir, const CertificateAuthority& ca,
                    std::string_view machine, const IssueOptions& opts, bool replace) {
  KITH_RETURN_IF_ERROR(files::makeDir(outDir, 0700));
  SigningKey key = SigningKey::generate();
  auto cert = ca.issueNodeCertificate(key.publicKey(), machine, opts);
  if (!cert) return cert.status();
  auto nodeCa = ca.issueNodeCaCertificate(key.publicKey(), machine, opts);
  if (!nodeCa) return nodeCa.status();
  // The key goes first: with replace == false it is what claims the directory.
  KITH_RETURN_IF_ERROR(key.saveKeyFile(
      join(outDir, kNodeKeyFile),
      replace ? SigningKey::Write::kReplace : SigningKey::Write::kCreateOnly));
  KITH_RETURN_IF_ERROR(files::writeAtomic(join(outDir, kNodeCertFile), *cert, 0644));
  KITH_RETURN_IF_ERROR(files::writeAtomic(join(outDir, kNodeCaCertFile), *nodeCa, 0644));
  KITH_RETURN_IF_ERROR(files::writeAtomic(join(outDir, kBundleFile), ca.certificatePem(), 0644));
  KITH_RETURN_IF_ERROR(writeLine(join(outDir, kTrustDomainFile), ca.trustDomain()));
  KITH_RETURN_IF_ERROR(writeLine(join(outDir, kMachineFile), machine));
  return Status::ok();
}

}  // namespace

Status initCa(const std::string& dir, std::string_view trustDomain, const IssueOptions& opts) {
  KITH_RETURN_IF_ERROR(validateTrustDomain(trustDomain));
  for (auto name : {kRootKeyFile, kRootCertFile}) {
    if (files::exists(join(dir, name))) {
      return Status::badRequest(dir + " already holds a CA (" + std::string(name) +
                                "); refusing to overwrite it");
    }
  }
  KITH_RETURN_IF_ERROR(files::makeDir(dir, 0700));
  auto ca = CertificateAuthority::createRoot(SigningKey::generate(), trustDomain, opts);
  if (!ca) return ca.status();
  KITH_RETURN_IF_ERROR(ca->key().saveKeyFile(join(dir, kRootKeyFile), SigningKey::Write::kCreateOnly));
  KITH_RETURN_IF_ERROR(files::writeAtomic(join(dir, kRootCertFile), ca->certificatePem(), 0644));
  KITH_RETURN_IF_ERROR(writeLine(join(dir, kTrustDomainFile), trustDomain));
  return Status::ok();
}

Result<CertificateAuthority> loadCa(const std::string& dir) {
  std::string keyPath = join(dir, kRootKeyFile), certPath = join(dir, kRootCertFile),
              tdPath = join(dir, kTrustDomainFile);
  auto td = readLine(tdPath);
  if (!td) return td.status();
  auto key = SigningKey::loadKeyFile(keyPath);
  if (!key) return key.status();
  auto certPem = files::read(certPath);
  if (!certPem) return certPem.status();
  auto ca = CertificateAuthority::load(std::move(*key), std::move(*certPem));
  if (!ca) return withPath(ca.status(), certPath);
  if (!ca->machine().empty()) return Status::badRequest(certPath + ": is a node CA, not a root");
  if (ca->trustDomain() != *td) {
    return Status::badRequest(certPath + " is for trust domain " + ca->trustDomain() + " but " +
                              tdPath + " says " + *td);
  }
  return std::move(*ca);
}

Status issueNode(const std::string& caDir, std::string_view machine, const std::string& outDir,
                 const IssueOptions& opts, bool replace) {
  KITH_RETURN_IF_ERROR(validateMachineName(machine));
  auto ca = loadCa(caDir);
  if (!ca) return ca.status();
  return writeNodeDir(outDir, *ca, machine, opts, replace);
}

int64_t NodeIdentity::earliestExpiry() const {
  int64_t t = certNotAfter;
  if (nodeCaNotAfter != 0 && nodeCaNotAfter < t) t = nodeCaNotAfter;
  if (rootNotAfter != 0 && rootNotAfter < t) t = rootNotAfter;
  return t;
}

Result<CertificateAuthority> NodeIdentity::svidIssuer() const {
  if (nodeCaPem.empty()) {
    return Status::notFound("node identity for " + machine + " has no " +
                            std::string(kNodeCaCertFile) + "; it cannot issue SVIDs");
  }
  return CertificateAuthority::load(key.clone(), nodeCaPem);
}

Result<NodeIdentity> NodeIdentity::load(const std::string& nodeDir) {
  std::string keyPath = join(nodeDir, kNodeKeyFile), certPath = join(nodeDir, kNodeCertFile),
              nodeCaPath = join(nodeDir, kNodeCaCertFile), rootPath = join(nodeDir, kBundleFile);
  auto machine = readLine(join(nodeDir, kMachineFile));
  if (!machine) return machine.status();
  KITH_RETURN_IF_ERROR(withPath(validateMachineName(*machine), join(nodeDir, kMachineFile)));
  auto td = readLine(join(nodeDir, kTrustDomainFile));
  if (!td) return td.status();
  KITH_RETURN_IF_ERROR(withPath(validateTrustDomain(*td), join(nodeDir, kTrustDomainFile)));
  auto key = SigningKey::loadKeyFile(keyPath);
  if (!key) return key.status();
  auto cert = files::read(certPath);
  if (!cert) return cert.status();
  auto root = files::read(rootPath);
  if (!root) return root.status();

  NodeIdentity node{std::move(*key), std::move(*cert), {}, std::move(*root), *machine, *td, {}};
  node.spiffeId = *nodeSpiffeId(*td, *machine);

  auto rootInfo = parseCertificatePem(node.rootPem);
  if (!rootInfo) return withPath(rootInfo.status(), rootPath);
  auto tdId = *trustDomainSpiffeId(*td);
  if (!rootInfo->isCa || rootInfo->uriSans != std::vector<std::string>{tdId}) {
    return Status::badRequest(rootPath + ": is not the root CA of trust domain " + *td);
  }
  node.rootNotAfter = rootInfo->notAfter;

  auto info = parseCertificatePem(node.certPem);
  if (!info) return withPath(info.status(), certPath);
  KITH_RETURN_IF_ERROR(checkNodeCert(*info, certPath, node, false));
  KITH_RETURN_IF_ERROR(withPath(verifyCertificate(node.certPem, node.rootPem), certPath));
  node.certNotBefore = info->notBefore;
  node.certNotAfter = info->notAfter;

  if (files::exists(nodeCaPath)) {
    auto nodeCa = files::read(nodeCaPath);
    if (!nodeCa) return nodeCa.status();
    auto caInfo = parseCertificatePem(*nodeCa);
    if (!caInfo) return withPath(caInfo.status(), nodeCaPath);
    KITH_RETURN_IF_ERROR(checkNodeCert(*caInfo, nodeCaPath, node, true));
    KITH_RETURN_IF_ERROR(withPath(verifyCertificate(*nodeCa, node.rootPem), nodeCaPath));
    node.nodeCaPem = std::move(*nodeCa);
    node.nodeCaNotAfter = caInfo->notAfter;
  }
  return node;
}

Result<DevIdentity> ensureDevIdentity(const std::string& home, std::string_view machine,
                                      std::string_view trustDomain, const Clock* clock) {
  KITH_RETURN_IF_ERROR(validateMachineName(machine));
  KITH_RETURN_IF_ERROR(validateTrustDomain(trustDomain));
  const Clock& clk = clock != nullptr ? *clock : systemClock();
  const std::string caDir = join(home, "ca"), nodeDir = join(home, "node");
  KITH_RETURN_IF_ERROR(files::makeDir(home, 0700));

  bool createdCa = false;
  if (!files::exists(join(caDir, kRootKeyFile))) {
    KITH_RETURN_IF_ERROR(initCa(caDir, trustDomain, IssueOptions{0, &clk}));
    createdCa = true;
    log::info("identity", "created dev CA", {{"dir", caDir}, {"trust_domain", trustDomain}});
  }
  auto ca = loadCa(caDir);
  if (!ca) return ca.status();
  if (ca->trustDomain() != trustDomain) {
    return Status::config(caDir + " holds a CA for trust domain " + ca->trustDomain() +
                          ", not " + std::string(trustDomain) +
                          "; use that trust domain or remove the directory");
  }

  // A dev node identity is disposable: whatever keeps it from being usable for
  // the next kRenewBeforeSeconds (missing, damaged, from an older CA, another
  // machine name, expiring) is answered by issuing a fresh one.
  std::optional<NodeIdentity> node;
  std::string why = createdCa ? "new CA" : "no node identity";
  if (!createdCa && files::exists(join(nodeDir, kNodeKeyFile))) {
    auto loaded = NodeIdentity::load(nodeDir);
    int64_t now = clk.nowMicros() / 1'000'000;
    if (!loaded) {
      why = loaded.status().message();
    } else if (loaded->machine != machine) {
      why = "machine renamed from " + loaded->machine;
    } else if (loaded->nodeCaPem.empty()) {
      why = "no node-ca.crt";
    } else if (std::min(loaded->certNotAfter, loaded->nodeCaNotAfter) - now <
               kRenewBeforeSeconds) {
      // (Only what a reissue renews: an expiring root needs the operator.)
      why = "certificate expires within 30 days";
    } else {
      node = std::move(*loaded);
    }
  }
  bool issued = false;
  if (!node) {
    KITH_RETURN_IF_ERROR(writeNodeDir(nodeDir, *ca, machine, IssueOptions{0, &clk}, true));
    log::info("identity", "issued dev node identity",
              {{"dir", nodeDir}, {"machine", machine}, {"reason", why}});
    auto loaded = NodeIdentity::load(nodeDir);
    if (!loaded) return loaded.status();
    node = std::move(*loaded);
    issued = true;
  }
  return DevIdentity{caDir, nodeDir, createdCa, issued, std::move(*node)};
}

}  // namespace kith::identity
