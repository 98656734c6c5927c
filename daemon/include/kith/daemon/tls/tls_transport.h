// TLS 1.3 between daemons (wolfSSL), under a tunnel link.
//
// TlsContext holds this node's certificate and key and the trust domain's root
// certificate; it is immutable once made and shared by every link (a rotated
// node certificate makes a new context for new links). Both sides present
// their node certificate and both verify the other's (mutual TLS).
//
// TlsTransport drives one non-blocking socket: handshake(), read(), write()
// report kWantRead/kWantWrite instead of blocking; the owner polls the socket
// and calls again. It does the socket I/O itself (wolfSSL I/O callbacks), in
// big batches: one recv() fills a 256 KiB buffer that wolfSSL's many small
// reads (a record header, then its body) are served from, and the records
// wolfSSL writes collect in an output buffer sent with one send() — instead of
// two recv() per 16 KiB record in and one send() per record out. Encrypted
// bytes may therefore wait in the output buffer: flushOutput() sends them and
// hasOutput() says whether the socket must be polled for writing. What the handshake proved is a PeerIdentity value: the peer's
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
  // After the handshake: reads may use the big buffer. Until then a peer
  // that has proved nothing gets no more than one record's worth of memory.
  void authenticated() { inCap_ = kBigReads; }
  // The socket polled readable: the next read may ask the kernel again.
  void socketReadable() { drained_ = false; }
  // Sends buffered encrypted bytes; false on a socket error (error() says).
  bool flushOutput();
  bool hasOutput() const { return outOff_ < out_.size(); }

  // The last error, readable ("handshake: ASN no signer error (-188)").
  const std::string& error() const { return error_; }
  std::string version() const;
  std::string cipher() const;

 private:
  Io classify(int rc, const char* what);
  static int onRecv(WOLFSSL* ssl, char* buf, int sz, void* ctx);
  static int onSend(WOLFSSL* ssl, char* buf, int sz, void* ctx);

  std::shared_ptr<const TlsContext> ctx_;
  WOLFSSL* ssl_ = nullptr;
  int fd_ = -1;
  static constexpr size_t kSmallReads = 17 * 1024;  // one TLS record and its header
  static constexpr size_t kBigReads = 256 * 1024;
  std::unique_ptr<char[]> in_;  // received, not yet taken by wolfSSL
  size_t inCap_ = kSmallReads;  // size of in_ (allocated on first use)
  size_t inAlloc_ = 0;
  size_t inLen_ = 0;
  size_t inOff_ = 0;
  std::string out_;  // encrypted, not yet sent
  size_t outOff_ = 0;
  bool peerClosed_ = false;
  // The last recv() returned less than the buffer: the socket is (very
  // likely) empty, so wolfSSL's next read says kWantRead without asking the
  // kernel — epoll (level-triggered) reports anything that arrives since.
  bool drained_ = false;
  std::string error_;
};

}  // namespace kith::daemon
