// ApiConnection: one client connection to api.sock or admin.sock.
//
// Reads newline-framed JSON requests (socket-api LineBuffer), hands each to the
// Dispatcher, and writes replies IN REQUEST ORDER even when some are answered
// later (register waits for durability, connect for a dial): each request takes
// a reply slot, and the write queue is fed from the front of the slots as they
// fill. Unsolicited messages (watch events, incoming streams) are queued between
// lines at once. A line may carry one descriptor (SCM_RIGHTS).
//
// Backpressure: when too many replies are outstanding or too much output is
// queued (a client that does not read), the connection stops reading until it
// drains. Output is written at the end of the loop iteration that produced
// it (Loop::atIterationEnd), so every reply and event of one iteration leaves
// in one syscall and the socket is polled for writability only while the
// kernel's buffer is full.
// Owned by ApiServer through shared_ptr; asynchronous answers hold a
// weak_ptr (Reply) so an answer for a connection that has closed is dropped.
// Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/unique_fd.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/socket-api/line_buffer.h"

namespace kith::daemon {

class ApiConnection;

// The pending answer to one request. Exactly one send() per Reply; a Reply
// dropped unsent answers INTERNAL (so a client is never left waiting).
class Reply {
 public:
  Reply(std::weak_ptr<ApiConnection> conn, uint64_t slot, nlohmann::json id);
  Reply(Reply&&) noexcept;
  Reply& operator=(Reply&&) = delete;
  Reply(const Reply&) = delete;
  ~Reply();

  void ok(nlohmann::json fields = nlohmann::json::object());
  void okWithFd(nlohmann::json fields, UniqueFd fd);
  void error(const Status& st);
  const nlohmann::json& id() const { return id_; }
  // True if the connection is gone (answers would be dropped).
  bool abandoned() const { return conn_.expired(); }

 private:
  void send(nlohmann::json msg, UniqueFd fd);
  std::weak_ptr<ApiConnection> conn_;
  uint64_t slot_;
  nlohmann::json id_;
  bool sent_ = false;
};

class ApiConnection : public std::enable_shared_from_this<ApiConnection>, private IterationEndHook {
 public:
  enum class Kind { kApi, kAdmin };
  using RequestFn = std::function<void(ApiConnection&, nlohmann::json req, Reply reply)>;
  using ClosedFn = std::function<void(ApiConnection&)>;

  ApiConnection(Loop& loop, UniqueFd fd, Kind kind, Caller caller);
  ~ApiConnection();

  Status start(RequestFn onRequest, ClosedFn onClosed);
  // Queues an unsolicited message (with an optional descriptor).
  void pushEvent(const nlohmann::json& msg, UniqueFd fd = UniqueFd());
  // Closes the socket now; onClosed runs once.
  void close();

  Kind kind() const { return kind_; }
  const Caller& caller() const { return caller_; }
  uint64_t id() const { return caller_.connId; }
  bool closed() const { return closed_; }
  size_t queuedBytes() const { return queuedBytes_; }
  // Hooks for connection-scoped state (watchers, event followers) to undo on close.
  void onClose(std::function<void()> fn) { cleanups_.push_back(std::move(fn)); }

  static constexpr size_t kMaxOutstanding = 256;   // replies not yet sent
  static constexpr size_t kMaxQueuedBytes = 4 << 20;

 private:
  friend class Reply;
  struct Out {
    std::string data;
    size_t off = 0;
    UniqueFd fd;
  };
  struct Slot {
    bool filled = false;
    std::string line;
    UniqueFd fd;
  };

  void onReadable();
  void fillSlot(uint64_t slot, std::string line, UniqueFd fd);
  void enqueue(std::string line, UniqueFd fd);
  void flush();
  // Flushes at the end of this loop iteration (once, however many messages).
  void scheduleFlush();
  void onIterationEnd() override;
  void updatePoll();
  void handleLine(const api::LineBuffer::Item& item);

  Loop& loop_;
  UniqueFd fd_;
  Kind kind_;
  Caller caller_;
  std::unique_ptr<Poll> poll_;  // destroyed before fd_ closes (see Poll)
  int armed_ = -1;  // events the poll is started with (re-arming costs syscalls)
  RequestFn onRequest_;
  ClosedFn onClosed_;
  api::LineBuffer in_;
  std::deque<Out> out_;
  size_t queuedBytes_ = 0;
  std::deque<Slot> slots_;
  uint64_t firstSlot_ = 0;  // slot number of slots_.front()
  bool closed_ = false;
  bool peerEof_ = false;
  bool inRead_ = false;  // inside onReadable: it flushes and re-arms at the end
  bool flushScheduled_ = false;  // registered with loop_.atIterationEnd
  std::vector<std::function<void()>> cleanups_;
};

}  // namespace kith::daemon
