#include "pump.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace kith::kithcat {
namespace {

constexpr size_t kBufferBytes = 64 * 1024;

// One direction's buffer: bytes [off, len) are read but not yet written.
struct Buffer {
  std::vector<char> data = std::vector<char>(kBufferBytes);
  size_t off = 0, len = 0;
  bool empty() const { return off == len; }
  void consumed(size_t n) {
    off += n;
    if (off == len) off = len = 0;
  }
};

bool transient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

std::string errnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

PumpEnd pump(int sock, int in, int out, PumpState* state, std::string* error) {
  int flags = fcntl(sock, F_GETFL);
  if (flags >= 0) fcntl(sock, F_SETFL, flags | O_NONBLOCK);

  Buffer up;    // in -> sock
  Buffer down;  // sock -> out
  bool sockEof = false;     // the stream's read side ended
  bool upClosed = false;    // the peer stopped reading: nothing more is sent
  bool shutdownSent = false;

  for (;;) {
    if ((state->inEof || upClosed) && up.empty() && !shutdownSent) {
      ::shutdown(sock, SHUT_WR);
      shutdownSent = true;
    }
    if (sockEof && down.empty()) return PumpEnd::kDone;

    pollfd fds[3];
    int n = 0, iIn = -1, iSock = -1, iOut = -1;
    if (!state->inEof && !upClosed && up.empty()) {
      iIn = n;
      fds[n++] = {in, POLLIN, 0};
    }
    short sockEvents = 0;
    if (!up.empty()) sockEvents |= POLLOUT;
    if (!sockEof && down.empty()) sockEvents |= POLLIN;
    if (sockEvents) {
      iSock = n;
      fds[n++] = {sock, sockEvents, 0};
    }
    if (!down.empty()) {
      iOut = n;
      fds[n++] = {out, POLLOUT, 0};
    }
    int rc = ::poll(fds, static_cast<nfds_t>(n), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      *error = errnoText("poll", errno);
      return PumpEnd::kError;
    }

    if (iIn >= 0 && fds[iIn].revents) {
      if (fds[iIn].revents & POLLNVAL) {
        state->inEof = true;  // no stdin at all: treat as empty
      } else {
        ssize_t r = ::read(in, up.data.data(), up.data.size());
        if (r > 0) {
          up.off = 0;
          up.len = static_cast<size_t>(r);
        } else if (r == 0) {
          state->inEof = true;
        } else if (!transient(errno)) {
          *error = errnoText("read from stdin", errno);
          return PumpEnd::kError;
        }
      }
    }

    if (iSock >= 0 && fds[iSock].revents) {
      short rev = fds[iSock].revents;
      if ((sockEvents & POLLOUT) && (rev & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::send(sock, up.data.data() + up.off, up.len - up.off, MSG_NOSIGNAL);
        if (w > 0) {
          up.consumed(static_cast<size_t>(w));
        } else if (w < 0 && !transient(errno)) {
          if (errno != EPIPE && errno != ECONNRESET) {
            *error = errnoText("write to stream", errno);
            return PumpEnd::kError;
          }
          upClosed = true;  // the peer no longer reads; keep reading what it sends
          up.off = up.len = 0;
        }
      }
      if ((sockEvents & POLLIN) && (rev & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t r = ::recv(sock, down.data.data(), down.data.size(), 0);
        if (r > 0) {
          down.off = 0;
          down.len = static_cast<size_t>(r);
        } else if (r == 0) {
          sockEof = true;
        } else if (!transient(errno)) {
          if (errno != ECONNRESET) {
            *error = errnoText("read from stream", errno);
            return PumpEnd::kError;
          }
          sockEof = true;
        }
      }
    }

    if (iOut >= 0 && fds[iOut].revents) {
      ssize_t w = ::write(out, down.data.data() + down.off, down.len - down.off);
      if (w > 0) {
        down.consumed(static_cast<size_t>(w));
      } else if (w < 0 && !transient(errno)) {
        if (errno == EPIPE) return PumpEnd::kOutClosed;
        *error = errnoText("write to stdout", errno);
        return PumpEnd::kError;
      }
    }
  }
}

}  // namespace kith::kithcat
