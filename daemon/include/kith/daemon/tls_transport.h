// TLS 1.3 between daemons (wolfSSL), under a tunnel link.
//
// TlsContext holds this node's certificate and key and the trust domain's root
// certificate; it is immutable once made and shared by every link (a rotated
// node certificate makes a new context for new links). Both sides present
// their node certificate and both verify the other's (mutual TLS).
//
// TlsTransport drives one non-blocking socket: handshake(), read(), write()
// report kWantRead/kWantWrite instead of blocking; the owner polls the socket
// and calls again. What the handshake proved is a PeerIdentity value: the peer's
// machine name, taken from its certificate's SPIFFE ID spiffe://TD/node/MACHINE
// — accepted only for a leaf certificate signed by the root itself, so a node
// (whose node-ca.crt may issue workload SVIDs) can never pose as another node.
//
// Loop thread only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "kith/common/status.h"

struct WOLFSSL_CTX;
struct WOLFSSL;

namespace kith::daemon {

struct PeerIdentity {
  std::string machine;
  std::string spiffeId;
  int64_t certNotAfter = 0;  // Unix seconds
};

class TlsContext {
 public:
  struct Material {
    std::string certPem;  // node.crt
    std::string keyPem;   // node.key (PKCS#8)
    std::string rootPem;  // ca.crt
    std::string trustDomain;
  };
  static Result<std::shared_ptr<const TlsContext>> create(const Material& m);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  WOLFSSL_CTX* client() const { return client_; }
  WOLFSSL_CTX* server() const { return server_; }
  const std::string& rootPem() const { return rootPem_; }
  const std::string& trustDomain() const { return trustDomain_; }

 private:
  TlsContext() = default;
  WOLFSSL_CTX* client_ = nullptr;
  WOLFSSL_CTX* server_ = nullptr;
  std::string rootPem_;
  std::string trustDomain_;
};

class TlsTransport {
 public:
  enum class Io { kOk, kWantRead, kWantWrite, kClosed, kError };

  // Does not own `fd` (the link does). `server`: the accepting side.
  TlsTransport(std::shared_ptr<const TlsContext> ctx, int fd, bool server);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  bool ok() const { return ssl_ != nullptr; }
  // One handshake step; kOk once it is complete.
  Io handshake();
  // After the handshake: checks the peer's certificate names a node of our
  // trust domain, signed by the root directly; `expectedMachine` when we know
  // whom we dialled.
  Result<PeerIdentity> verifyPeer(const std::optional<std::string>& expectedMachine);
  // Bytes read (> 0), or 0 with *io set (kWantRead, kClosed, kError).
  size_t read(char* buf, size_t len, Io* io);
  // Bytes written (> 0), or 0 with *io set. After kWantWrite, call again with
  // the same bytes (wolfSSL has encrypted them already).
  size_t write(const char* buf, size_t len, Io* io);
  // Bytes decrypted and waiting inside wolfSSL (no socket readiness for them).
  bool pending() const;

  // The last error, readable ("handshake: ASN no signer error (-188)").
  const std::string& error() const { return error_; }
  std::string version() const;
  std::string cipher() const;

 private:
  Io classify(int rc, const char* what);

  std::shared_ptr<const TlsContext> ctx_;
  WOLFSSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace kith::daemon
