#include "kith/socket-api/socket_path.h"

#include <cstdlib>

namespace kith::api {

std::string resolveApiSocket(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* s = std::getenv("KITH_SOCKET"); s && *s) return s;
  if (const char* h = std::getenv("KITH_HOME"); h && *h) return std::string(h) + "/run/api.sock";
  return kDefaultApiSocket;
}

std::string resolveAdminSocket(const std::string& flag) {
  std::string api = resolveApiSocket(flag);
  auto slash = api.rfind('/');
  std::string dir = slash == std::string::npos ? "." : api.substr(0, slash);
  std::string base = slash == std::string::npos ? api : api.substr(slash + 1);
  if (base == "admin.sock") return api;
  return dir + "/admin.sock";
}

}  // namespace kith::api
