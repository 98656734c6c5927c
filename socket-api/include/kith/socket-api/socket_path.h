// Where clients find the daemon's sockets. The lookup order is part of the
// command-line contract: --socket PATH, else $KITH_SOCKET, else
// $KITH_HOME/run/api.sock, else /run/kith/api.sock. admin.sock lives beside
// api.sock.
#pragma once

#include <string>

namespace kith::api {

inline constexpr const char* kDefaultApiSocket = "/run/kith/api.sock";

// `flag` is the --socket value ("" if not given).
std::string resolveApiSocket(const std::string& flag);
// The admin socket beside the resolved api socket. If `flag` names a file called
// admin.sock it is used as is.
std::string resolveAdminSocket(const std::string& flag);

}  // namespace kith::api
