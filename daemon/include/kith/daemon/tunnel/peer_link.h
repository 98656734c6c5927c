// PeerLink: one TLS 1.3 connection to another daemon, multiplexing streams
// (frames in frame.h; design in docs/TUNNELS.md).
//
// A stream joins a local socket (the caller's end of a `connect`, or the
// daemon's connection to a server workload) to the peer's end. Per stream:
//   - credit flow control: a side sends DATA only within the window the other
//     granted (OPEN / OPEN_OK), and the receiver grants more (WINDOW) as its
//     local socket takes the bytes. A slow reader therefore holds at most one
//     window of memory per stream, and its writer is stopped, not buffered;
//   - half close both ways: local EOF becomes FIN; a FIN becomes
//     shutdown(SHUT_WR) once everything before it is written;
//   - RST ends both directions at once (refused, revoked, local error);
//   - UDP streams carry DGRAM frames over SOCK_SEQPACKET local sockets, one
//     datagram per frame, dropped (and counted) rather than queued when the
//     receiver is full, and closed after an idle timeout.
// Per link: when the TLS output backlog passes a high-water mark every stream
// stops reading its local socket until it drains (no unbounded buffering);
// PING every few seconds, and a link that hears nothing for kDeadAfterMs, or
// whose TLS fails, is closed: its opening streams fail with
// DESTINATION_UNREACHABLE and its open streams are closed.
//
// Ownership: the owner (TunnelBroker) creates links, and is told through
// Owner when one comes up, goes down (then it must deferredDelete it), when the
// peer asks to open a stream, and when a stream ends. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/tunnel/frame.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/tls/tls_transport.h"

namespace kith::daemon {

class PeerLink : public DeferredDeletable, private IterationEndHook {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void linkUp(PeerLink& link) = 0;
    // Called once; every stream has been ended already. The owner must not
    // destroy the link inside this call (deferredDelete it).
    virtual void linkDown(PeerLink& link, const Status& why) = 0;
    // The peer asks for a stream: answer later with accept() or refuse().
    virtual void openRequested(PeerLink& link, uint32_t stream, OpenPayload open) = 0;
    // An open stream ended (both directions done, reset, or link down).
    virtual void streamEnded(PeerLink& link, uint32_t stream, const std::string& why) = 0;
  };

  struct Options {
    uint32_t window = 512 * 1024;      // per-stream receive window
    size_t highWater = 4 * 1024 * 1024;  // TLS backlog that pauses local reads
    int64_t udpIdleMs = 60000;
    int64_t pingMs = 5000;
    int64_t deadAfterMs = 15000;
    int64_t handshakeMs = 10000;
    size_t maxStreams = 65536;        // OPENs beyond it are RATE_LIMITED
    std::string machineForErrors;     // this machine, named in refusals
  };

  struct Stats {
    uint64_t bytesIn = 0, bytesOut = 0;   // stream payload bytes
    uint64_t tlsIn = 0, tlsOut = 0;       // plaintext frame bytes through TLS
    uint64_t streamsOpened = 0, streamsRefused = 0, resets = 0;
    uint64_t dgramsIn = 0, dgramsOut = 0, dgramsDropped = 0;
    int64_t rttMicros = -1;
  };

  // `fd` is a connected (or connecting) non-blocking TCP socket. `dialer`: we
  // dialled it (odd stream ids, TLS client); `expect`: the machine we dialled.
  PeerLink(Loop& loop, uint64_t id, std::shared_ptr<const TlsContext> tls, UniqueFd fd, bool dialer,
           std::optional<std::string> expect, Owner& owner, Options opts);
  ~PeerLink() override;

  // Starts the TLS handshake (Owner::linkUp or linkDown follows).
  void start();
  // Closes the link and all its streams; linkDown follows (once).
  void close(const Status& why);

  // Opens a stream (after linkUp). `done` runs exactly once: ok when the peer
  // accepted (then call attach() at once or later), or the peer's refusal, or
  // DESTINATION_UNREACHABLE when the link goes down first. Returns the id.
  uint32_t open(OpenPayload open, std::function<void(Status)> done);
  // Binds a local socket to a stream this side opened and the peer accepted.
  // Data that arrived before is written first. False if the stream is gone.
  bool attach(uint32_t stream, UniqueFd fd);
  // Answers openRequested(): OPEN_OK and the stream runs on `fd`; or OPEN_ERR.
  bool accept(uint32_t stream, UniqueFd fd);
  void refuse(uint32_t stream, const Status& why);
  // Ends a stream both ways (RST with `why`); streamEnded follows.
  void reset(uint32_t stream, const std::string& why);

  uint64_t id() const { return id_; }
  bool up() const { return state_ == State::kUp; }
  bool dialer() const { return dialer_; }
  const PeerIdentity& peer() const { return peer_; }
  std::string tlsVersion() const { return tls_ ? tls_->version() : ""; }
  std::string tlsCipher() const { return tls_ ? tls_->cipher() : ""; }
  size_t streamCount() const { return streams_.size(); }
  size_t backlog() const { return out_.size() - outOff_; }
  // Bytes held for streams: received but not yet written to local sockets.
  size_t bufferedBytes() const;
  const Stats& stats() const { return stats_; }

 private:
  enum class State { kHandshake, kUp, kClosed };
  struct Stream;

  void onSocket(int status, int events);
  void handshakeStep();
  void readLink();
  bool onFrame(const Frame& f);
  void flush();
  // Frames queued during one loop iteration leave together, at its end: one
  // TLS write and one send() for all of them (onIterationEnd).
  void queue(FrameType type, uint32_t stream, std::string_view payload);
  void scheduleFlush();
  void onIterationEnd() override;
  void armLink();
  void tick();

  Stream* find(uint32_t id);
  void armStream(Stream& s);
  void onStreamSocket(uint32_t id, int status, int events);
  void readStream(Stream& s);
  void writeStream(Stream& s);
  void deliverData(Stream& s, std::string_view data);
  void maybeFinish(Stream& s);
  void endStream(uint32_t id, const std::string& why, bool sendRst);
  void setCongested(bool on);

  Loop& loop_;
  uint64_t id_;
  std::shared_ptr<const TlsContext> ctx_;
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  std::unique_ptr<TlsTransport> tls_;
  bool dialer_;
  std::optional<std::string> expect_;
  Owner& owner_;
  Options opts_;
  State state_ = State::kHandshake;
  PeerIdentity peer_;
  int armed_ = -1;
  bool wantWrite_ = false;  // TLS is waiting for the socket to take bytes
  std::string out_;         // plaintext frames not yet taken by TLS
  size_t outOff_ = 0;
  size_t inflight_ = 0;     // size of the write TLS asked us to repeat
  bool flushScheduled_ = false;
  FrameDecoder decoder_;
  uint32_t nextStream_;
  std::unordered_map<uint32_t, std::unique_ptr<Stream>> streams_;
  std::unordered_set<uint32_t> paused_;  // streams waiting for the backlog to drain
  bool congested_ = false;
  Timer timer_;
  int64_t lastHeardMs_ = 0;
  int64_t startedMs_ = 0;
  Stats stats_;
};

}  // namespace kith::daemon
