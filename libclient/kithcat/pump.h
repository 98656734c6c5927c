// pump: copies bytes both ways between a stream socket and a pair of local
// descriptors (kithcat's stdin and stdout), with netcat's half-close rules.
//
// in -> sock: when `in` reaches EOF (or is already known to be at EOF), the
// stream's write side is shut down (shutdown(SHUT_WR)) once everything read has
// been sent. sock -> out: when the stream's read side ends and everything read
// has been written, pump returns — whether or not `in` has ended.
//
// The socket is switched to non-blocking so that a peer that echoes (cat) can
// never deadlock the two directions against each other; `in` and `out` stay as
// they are (they may be shared with other processes) and are only read or
// written when poll() says so. Each direction has its own 64 KiB buffer.
#pragma once

#include <string>

namespace kith::kithcat {

struct PumpState {
  bool inEof = false;  // `in` has ended (persists across streams with -k)
};

enum class PumpEnd {
  kDone,       // the stream's read side ended and its data was written out
  kOutClosed,  // `out` went away (EPIPE): stop quietly
  kError,      // an I/O error; *error says which
};

PumpEnd pump(int sock, int in, int out, PumpState* state, std::string* error);

}  // namespace kith::kithcat
