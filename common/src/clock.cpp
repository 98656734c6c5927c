#include "kith/common/clock.h"

#include <cstdio>
#include <ctime>

namespace kith {
namespace {

class SystemClock : public Clock {
 public:
  int64_t nowMicros() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
  }
  int64_t monotonicMillis() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
  }
};

}  // namespace

Clock& systemClock() {
  static SystemClock c;
  return c;
}

std::string formatMicrosIso(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1'000'000);
  int64_t frac = micros % 1'000'000;
  if (frac < 0) { frac += 1'000'000; --secs; }
  tm t{};
  gmtime_r(&secs, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

std::string formatSecondsIso(int64_t seconds) {
  time_t secs = static_cast<time_t>(seconds);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

bool parseSecondsIso(const std::string& s, int64_t* seconds) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  tm t{};
  t.tm_year = std::stoi(s.substr(0, 4)) - 1900;
  t.tm_mon = std::stoi(s.substr(5, 2)) - 1;
  t.tm_mday = std::stoi(s.substr(8, 2));
  t.tm_hour = std::stoi(s.substr(11, 2));
  t.tm_min = std::stoi(s.substr(14, 2));
  t.tm_sec = std::stoi(s.substr(17, 2));
  if (t.tm_mon > 11 || t.tm_mday < 1 || t.tm_mday > 31 || t.tm_hour > 23 || t.tm_min > 59 ||
      t.tm_sec > 60) {
    return false;
  }
  *seconds = static_cast<int64_t>(timegm(&t));
  return true;
}

}  // namespace kith
