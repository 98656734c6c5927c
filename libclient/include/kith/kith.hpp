// kith/kith.hpp — a thin, header-only C++17 wrapper over libkith's C API (kith.h).
//
// kith::Client owns one kith_client (closed on destruction; move-only) and
// returns std::string copies, so nothing it hands back dangles. Failures throw
// kith::Error, which carries the kith_status, the wire code name and the
// daemon's message; the only exceptions are the "nothing yet" results of
// accept() and nextEvent() (std::nullopt) and request(), which returns every
// reply the daemon gives, ok or not. Descriptors come back as kith::OwnedFd.
//
// Like the C handle, a Client is not thread-safe. Link with -lkith
// (pkg-config --libs kith).
#ifndef KITH_KITH_HPP
#define KITH_KITH_HPP

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kith.h"

namespace kith {

// Failure of a libkith call: status() is the kith_status, code() its wire name
// ("UNAUTHORIZED", "IO", ...), what() "CODE: message".
class Error : public std::runtime_error {
 public:
  Error(kith_status status, std::string code, const std::string& message)
      : std::runtime_error(code + ": " + message),
        status_(status),
        code_(std::move(code)),
        message_(message) {}
  kith_status status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  kith_status status_;
  std::string code_;
  std::string message_;
};

// Sole owner of a file descriptor (a stream handed over by the daemon).
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct RegisterOptions {
  std::string name;                    // "scope.group.identity.resource"
  std::vector<std::string> whitelist;  // patterns that may connect
  std::string target;                  // "" or "unix:/path" / "tcp:127.0.0.1:PORT"
  bool proxyProtocol = false;
  std::vector<std::string> protocols;  // empty: ["tcp"]
  int ttlMs = 0;                       // 0: daemon default
  std::string app;                     // "": executable basename
};

struct Registration {
  std::string address, spiffeId, identityHash, token;
  int ttlMs = 0;
};

struct Workload {
  std::string address, spiffeId, machine;
  std::vector<std::string> protocols;
};

struct ConnectOptions {
  std::string proto = "tcp";
  kith_connect_mode mode = KITH_CONNECT_FD;
  int timeoutMs = 0;  // 0: daemon default
};

struct Connection {
  OwnedFd fd;        // fd mode
  std::string path;  // path mode
  std::string destination, spiffeId;
};

struct Incoming {
  OwnedFd fd;
  uint64_t stream = 0;
  std::string source, spiffeId, proto;
};

struct Event {
  std::string type, address, spiffeId, reason, json;
  int64_t ts = 0;
};

// An X.509-SVID (see kith_x509_svid): PEM texts and Unix-second times.
struct Svid {
  std::string spiffeId, certPem, keyPem, bundlePem;
  int64_t expiresAt = 0, rotateAt = 0;
};

// A reply to request(): status KITH_OK for "ok": true, else the error.
struct Reply {
  kith_status status = KITH_OK;
  std::string code, message;  // "OK", "" on success
  std::string json;           // the reply line ("" if none arrived)
  OwnedFd fd;                 // when the reply carried one
};

class Client {
 public:
  // Connects to api.sock ("" = the lookup order). Throws Error (status KITH_IO).
  static Client open(const std::string& socketPath = "") {
    return openWith(socketPath, &kith_open_ex);
  }
  // Connects to admin.sock beside the resolved api.sock.
  static Client openAdmin(const std::string& socketPath = "") {
    return openWith(socketPath, &kith_open_admin);
  }

  // Adopts a handle from kith_open (may not be NULL).
  explicit Client(kith_client* c) : c_(c) {}
  Client(Client&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Client& operator=(Client&& o) noexcept {
    if (this != &o) {
      kith_close(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { kith_close(c_); }

  kith_client* handle() const noexcept { return c_; }
  int fileno() const noexcept { return kith_fileno(c_); }
  void setTimeout(int ms) { kith_set_timeout(c_, ms); }

  std::string hello() {
    const char* j = nullptr;
    check(kith_hello(c_, &j));
    return j ? j : "";
  }
  std::string status() {
    const char* j = nullptr;
    check(kith_daemon_status(c_, &j));
    return j ? j : "";
  }

  Registration registerAs(const RegisterOptions& o) {
    std::vector<const char*> wl = cstrings(o.whitelist), protos = cstrings(o.protocols);
    kith_register_options opts{};
    opts.name = o.name.c_str();
    opts.whitelist = wl.data();
    opts.whitelist_len = wl.size();
    opts.target = o.target.empty() ? nullptr : o.target.c_str();
    opts.proxy_protocol = o.proxyProtocol ? 1 : 0;
    opts.protocols = protos.empty() ? nullptr : protos.data();
    opts.protocols_len = protos.size();
    opts.ttl_ms = o.ttlMs;
    opts.app = o.app.empty() ? nullptr : o.app.c_str();
    kith_registration r{};
    check(kith_register(c_, &opts, &r));
    return Registration{r.address, r.spiffe_id, r.identity_hash, r.token, r.ttl_ms};
  }
  void setToken(const std::string& token) { kith_set_token(c_, token.c_str()); }
  int heartbeat() {
    int ttl = 0;
    check(kith_heartbeat(c_, &ttl));
    return ttl;
  }
  void deregister() { check(kith_deregister(c_)); }

  std::vector<Workload> resolve(const std::string& name, int waitMs = 0) {
    const kith_workload* w = nullptr;
    size_t n = 0;
    check(kith_resolve(c_, name.c_str(), waitMs, &w, &n));
    return workloads(w, n);
  }
  std::vector<Workload> list() {
    const kith_workload* w = nullptr;
    size_t n = 0;
    check(kith_list(c_, &w, &n));
    return workloads(w, n);
  }

  Connection connect(const std::string& destination, const ConnectOptions& o = {}) {
    kith_connect_options opts{};
    opts.proto = o.proto.c_str();
    opts.mode = o.mode;
    opts.timeout_ms = o.timeoutMs;
    kith_connection r{};
    check(kith_connect(c_, destination.c_str(), &opts, &r));
    Connection out;
    out.fd = OwnedFd(r.fd);
    out.path = r.path ? r.path : "";
    out.destination = r.destination ? r.destination : "";
    out.spiffeId = r.spiffe_id ? r.spiffe_id : "";
    return out;
  }

  void listen() { check(kith_listen(c_)); }
  // nullopt when no stream arrived within timeoutMs.
  std::optional<Incoming> accept(int timeoutMs = -1) {
    kith_incoming r{};
    kith_status st = kith_accept(c_, timeoutMs, &r);
    if (st == KITH_AGAIN) return std::nullopt;
    check(st);
    Incoming in;
    in.fd = OwnedFd(r.fd);
    in.stream = r.stream;
    in.source = r.source;
    in.spiffeId = r.spiffe_id;
    in.proto = r.proto;
    return in;
  }

  void watch(const std::string& pattern = "") {
    check(kith_watch(c_, pattern.empty() ? nullptr : pattern.c_str()));
  }
  std::optional<Event> nextEvent(int timeoutMs = -1) {
    kith_event r{};
    kith_status st = kith_next_event(c_, timeoutMs, &r);
    if (st == KITH_AGAIN) return std::nullopt;
    check(st);
    return Event{r.type, r.address, r.spiffe_id, r.reason, r.json, r.ts};
  }

  // `svid`: a new X.509-SVID; with watch, rotations arrive as "svid" events
  // (decode them with svidFromEvent).
  Svid svid(bool watch = false) {
    kith_x509_svid r{};
    check(kith_svid(c_, watch ? 1 : 0, &r));
    return Svid{r.spiffe_id, r.cert_pem, r.key_pem, r.bundle_pem, r.expires_at, r.rotate_at};
  }
  Svid svidFromEvent(const Event& e) {
    kith_x509_svid r{};
    check(kith_svid_from_event(c_, e.json.c_str(), &r));
    return Svid{r.spiffe_id, r.cert_pem, r.key_pem, r.bundle_pem, r.expires_at, r.rotate_at};
  }

  // Any request (a JSON object with "op"). Never throws for an error reply:
  // the Reply says what the daemon answered. Throws only on local failures
  // (KITH_IO: no reply) and malformed requests.
  Reply request(const std::string& json) {
    char* text = nullptr;
    int fd = -1;
    Reply r;
    r.status = kith_request(c_, json.c_str(), &text, &fd);
    r.fd = OwnedFd(fd);
    if (text) {
      r.json = text;
      kith_free(text);
    }
    r.code = kith_error_code(c_);
    r.message = kith_error_message(c_);
    if (r.status != KITH_OK && r.json.empty()) {
      throw Error(r.status, r.code, r.message);
    }
    return r;
  }

 private:
  using OpenFn = kith_status (*)(const char*, kith_client**, char*, size_t);

  static Client openWith(const std::string& path, OpenFn fn) {
    kith_client* c = nullptr;
    char err[512] = {0};
    kith_status st = fn(path.c_str(), &c, err, sizeof err);
    if (st != KITH_OK) throw Error(st, kith_status_name(st), err);
    return Client(c);
  }

  static std::vector<const char*> cstrings(const std::vector<std::string>& v) {
    std::vector<const char*> out;
    out.reserve(v.size());
    for (const auto& s : v) out.push_back(s.c_str());
    return out;
  }

  static std::vector<Workload> workloads(const kith_workload* w, size_t n) {
    std::vector<Workload> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Workload x{w[i].address, w[i].spiffe_id, w[i].machine, {}};
      std::string p = w[i].protocols;
      size_t start = 0;
      while (start < p.size()) {
        size_t comma = p.find(',', start);
        if (comma == std::string::npos) comma = p.size();
        x.protocols.push_back(p.substr(start, comma - start));
        start = comma + 1;
      }
      out.push_back(std::move(x));
    }
    return out;
  }

  void check(kith_status st) {
    if (st != KITH_OK) throw Error(st, kith_error_code(c_), kith_error_message(c_));
  }

  kith_client* c_;
};

}  // namespace kith

#endif  // KITH_KITH_HPP
