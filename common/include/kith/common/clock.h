// Clock: the one seam through which kith reads time, so tests can inject it.
//
// Wall time (microseconds since the epoch) is for timestamps and validity
// windows; monotonic time (milliseconds) is for timeouts and leases, and never
// jumps when the wall clock is set.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace kith {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t nowMicros() const = 0;       // CLOCK_REALTIME
  virtual int64_t monotonicMillis() const = 0;  // CLOCK_MONOTONIC
};

// The process clock. Thread-safe.
Clock& systemClock();

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t nowMicros = 1'700'000'000'000'000, int64_t mono = 1'000)
      : now_(nowMicros), mono_(mono) {}
  int64_t nowMicros() const override { return now_.load(); }
  int64_t monotonicMillis() const override { return mono_.load(); }
  void advanceMillis(int64_t ms) { now_ += ms * 1000; mono_ += ms; }
  void setWallMicros(int64_t us) { now_ = us; }

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> mono_;
};

// "2026-11-22T08:05:52.123456Z".
std::string formatMicrosIso(int64_t micros);
// "2026-11-22T08:05:52Z" (seconds precision, as RAINS validity fields).
std::string formatSecondsIso(int64_t seconds);
// Parses "YYYY-MM-DDTHH:MM:SSZ"; returns false on anything else.
bool parseSecondsIso(const std::string& s, int64_t* seconds);

}  // namespace kith
