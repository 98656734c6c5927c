// ApiServer: the listening Unix sockets (api.sock 0666, admin.sock 0660) and the
// set of live ApiConnections.
//
// Accepting reads the caller's credentials from the kernel and the start time
// of its process at once, so that a later request can never be attributed to a
// process that merely reused the pid. When accept fails for lack of
// descriptors (EMFILE/ENFILE) the server stops accepting for a short backoff
// instead of spinning.
//
// Every request goes to the RequestHandler given to start() (ApiService); the
// server is made first, because the broker delivers `incoming` streams
// through it (ListenerSink) and the service reads its counts, and starts
// serving once the handler exists. Loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kith/common/unique_fd.h"
#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/broker/listener_sink.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

// What answers requests: each request exactly once, through its Reply.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void handle(ApiConnection& conn, nlohmann::json req, Reply reply) = 0;
  // The connection closed (its onClose hooks have run).
  virtual void connectionClosed(ApiConnection& conn) = 0;
};

class ApiServer : public ListenerSink {
 public:
  struct Options {
    std::string apiPath;
    std::string adminPath;
    std::optional<gid_t> adminGroup;  // admin.sock group (0660); root otherwise
    size_t maxConnections = 16384;
  };

  ApiServer(Loop& loop, Options opts);
  ~ApiServer() override;

  // Binds both sockets and serves them with `handler`, which must outlive
  // the server's connections (stop() or destruction ends them).
  Status start(RequestHandler& handler);
  // Stops accepting and closes every connection.
  void stop();
  size_t connections() const { return conns_.size(); }
  std::shared_ptr<ApiConnection> find(uint64_t connId) const;
  uint64_t acceptBackoffs() const { return backoffs_; }

  // ListenerSink: an `incoming` event with the stream's descriptor.
  bool deliverIncoming(uint64_t connId, const IncomingStream& s, UniqueFd end) override;

 private:
  struct Listener {
    UniqueFd fd;
    std::unique_ptr<Poll> poll;
    ApiConnection::Kind kind;
    std::string path;
  };
  Result<UniqueFd> bindSocket(const std::string& path, mode_t mode, std::optional<gid_t> group);
  void onAcceptable(Listener& l);
  void pauseAccepting();

  Loop& loop_;
  Options opts_;
  RequestHandler* handler_ = nullptr;  // set by start()
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<uint64_t, std::shared_ptr<ApiConnection>> conns_;
  uint64_t nextId_ = 1;
  Timer backoff_;
  uint64_t backoffs_ = 0;
  bool stopped_ = false;
};

}  // namespace kith::daemon
