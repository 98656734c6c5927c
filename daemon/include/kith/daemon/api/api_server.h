// ApiServer: the listening Unix sockets (api.sock 0666, admin.sock 0660) and the
// set of live ApiConnections.
//
// Accepting reads the caller's credentials from the kernel and the start time
// of its process at once, so that a later request can never be attributed to a
// process that merely reused the pid. When accept fails for lack of
// descriptors (EMFILE/ENFILE) the server stops accepting for a short backoff
// instead of spinning. Loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kith/common/unique_fd.h"
#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class ApiServer {
 public:
  struct Options {
    std::string apiPath;
    std::string adminPath;
    std::optional<gid_t> adminGroup;  // admin.sock group (0660); root otherwise
    size_t maxConnections = 16384;
  };

  ApiServer(Loop& loop, Options opts, ApiConnection::RequestFn onRequest,
            std::function<void(ApiConnection&)> onClosed);
  ~ApiServer();

  Status start();
  // Stops accepting and closes every connection.
  void stop();
  size_t connections() const { return conns_.size(); }
  std::shared_ptr<ApiConnection> find(uint64_t connId) const;
  uint64_t acceptBackoffs() const { return backoffs_; }

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
  ApiConnection::RequestFn onRequest_;
  std::function<void(ApiConnection&)> onClosed_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<uint64_t, std::shared_ptr<ApiConnection>> conns_;
  uint64_t nextId_ = 1;
  Timer backoff_;
  uint64_t backoffs_ = 0;
  bool stopped_ = false;
};

}  // namespace kith::daemon
