#include "kith/daemon/observability/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "metrics";
constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxConns = 64;
constexpr uint64_t kRequestTimeoutMs = 5000;

std::string response(int code, const char* reason, const std::string& contentType, const std::string& body,
                     bool head) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n";
  r += "Content-Type: " + contentType + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "Connection: close\r\n\r\n";
  if (!head) r += body;
  return r;
}

}  // namespace

class MetricsHttp::Conn : public DeferredDeletable {
 public:
  Conn(Loop& loop, UniqueFd fd) : fd_(std::move(fd)), poll_(std::make_unique<Poll>(loop, fd_.get())), timer_(loop) {}
  ~Conn() override {
    poll_.reset();  // before fd_ closes (see Poll)
  }
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  Timer timer_;
  std::string in_;
  std::string out_;
  size_t off_ = 0;
  bool answering_ = false;
};

MetricsHttp::MetricsHttp(Loop& loop, Options opts, Render render)
    : loop_(loop), opts_(std::move(opts)), render_(std::move(render)) {}

MetricsHttp::~MetricsHttp() {
  poll_.reset();
  conns_.clear();
}

Status MetricsHttp::parseListen(const std::string& listen, bool allowPortZero, std::string* host, uint16_t* port,
                                bool* loopback) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return Status::config("expected HOST:PORT, got '" + listen + "'");
  std::string h = listen.substr(0, colon), p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return Status::config("bad port in '" + listen + "'");
  }
  unsigned long pn = std::stoul(p);
  if (pn > 65535 || (pn == 0 && !allowPortZero)) return Status::config("port out of range in '" + listen + "'");
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") h = "127.0.0.1";
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    *loopback = (ntohl(a4.s_addr) >> 24) == 127;
  } else if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    *loopback = IN6_IS_ADDR_LOOPBACK(&a6);
  } else {
    return Status::config("HOST must be an IP address or localhost in '" + listen + "'");
  }
  *host = h;
  *port = static_cast<uint16_t>(pn);
  return Status::ok();
}

Status MetricsHttp::start() {
  std::string host;
  uint16_t port = 0;
  bool loopback = false;
  KITH_RETURN_IF_ERROR(parseListen(opts_.listen, true, &host, &port, &loopback));
  if (!loopback && !opts_.allowNonLoopback) {
    return Status::config("metrics.listen " + opts_.listen +
                          " is not a loopback address; set metrics.allow_non_loopback = true to expose "
                          "the unauthenticated metrics beyond this machine");
  }
  sockaddr_storage ss{};
  socklen_t len;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  fd_ = UniqueFd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_) return Status::fromErrno("metrics socket", errno);
  int one = 1;
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Status::fromErrno("bind metrics listener " + opts_.listen, errno);
  }
  if (::listen(fd_.get(), 64) != 0) return Status::fromErrno("listen metrics", errno);
  sockaddr_storage got{};
  socklen_t gl = sizeof got;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&got), &gl);
  uint16_t actual = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&got)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port);
  bound_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(actual);
  poll_ = std::make_unique<Poll>(loop_, fd_.get());
  KITH_RETURN_IF_ERROR(poll_->start(UV_READABLE, [this](int status, int) {
    if (status >= 0) onAcceptable();
  }));
  log::info(kMod, "serving Prometheus metrics over HTTP", {{"listen", bound_}, {"path", "/metrics"}});
  return Status::ok();
}

void MetricsHttp::onAcceptable() {
  for (int i = 0; i < 16; ++i) {
    int cfd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;  // EAGAIN, or out of descriptors: the API server's backoff is the loud one
    UniqueFd fd(cfd);
    if (conns_.size() >= kMaxConns) continue;  // closes
    uint64_t id = nextId_++;
    auto c = std::make_unique<Conn>(loop_, std::move(fd));
    Conn* raw = c.get();
    conns_[id] = std::move(c);
    raw->timer_.start(kRequestTimeoutMs, 0, [this, id] { finish(id); });
    Status st = raw->poll_->start(UV_READABLE, [this, id, raw](int status, int events) {
      if (status < 0) return finish(id);
      if (!raw->answering_) {
        char buf[2048];
        ssize_t n = ::recv(raw->fd_.get(), buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return finish(id);
        if (n < 0) return;
        raw->in_.append(buf, static_cast<size_t>(n));
        size_t end = raw->in_.find("\r\n\r\n");
        if (end == std::string::npos) end = raw->in_.find("\n\n");
        if (end == std::string::npos) {
          if (raw->in_.size() > kMaxRequestBytes) {
            raw->out_ = response(431, "Request Header Fields Too Large", "text/plain", "request too large\n", false);
          } else {
            return;
          }
        } else {
          std::string line = raw->in_.substr(0, raw->in_.find_first_of("\r\n"));
          size_t sp1 = line.find(' ');
          size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
          std::string method = line.substr(0, sp1);
          std::string target = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
          bool head = method == "HEAD";
          if (sp1 == std::string::npos || sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
            raw->out_ = response(400, "Bad Request", "text/plain", "bad request line\n", false);
          } else if (method != "GET" && !head) {
            raw->out_ = response(405, "Method Not Allowed", "text/plain", "only GET /metrics\n", false);
          } else if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
            raw->out_ = response(404, "Not Found", "text/plain", "only /metrics is served here\n", head);
          } else {
            raw->out_ = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_(), head);
          }
        }
        raw->answering_ = true;
        (void)raw->poll_->start(UV_WRITABLE, [this, id, raw](int st2, int) {
          if (st2 < 0) return finish(id);
          while (raw->off_ < raw->out_.size()) {
            ssize_t w = ::send(raw->fd_.get(), raw->out_.data() + raw->off_, raw->out_.size() - raw->off_,
                               MSG_NOSIGNAL);
            if (w < 0) {
              if (errno == EAGAIN || errno == EINTR) return;
              return finish(id);
            }
            raw->off_ += static_cast<size_t>(w);
          }
          finish(id);
        });
      }
      (void)events;
    });
    if (!st.isOk()) finish(id);
  }
}

void MetricsHttp::finish(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second->poll_->stop();
  it->second->timer_.stop();
  ::shutdown(it->second->fd_.get(), SHUT_WR);
  // Never destroyed inside its own callback.
  loop_.deferredDelete(std::move(it->second));
  conns_.erase(it);
}

}  // namespace kith::daemon
