// The C API of libkith (include/kith.h): builds requests, maps replies and
// errors, and owns the strings handed back to C callers. Every entry point
// catches everything: no exception crosses into C (STYLE.md rule 8).
#include "kith.h"

#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "connection.h"
#include "kith/common/json.h"
#include "kith/socket-api/socket_path.h"

using kith::Code;
using kith::Result;
using kith::Status;
using kith::api::Json;
using kith::client::Connection;
using kith::client::Message;

struct kith_client {
  explicit kith_client(Connection c) : conn(std::move(c)) {}

  Connection conn;
  std::string errCode = "OK";
  std::string errMessage;
  bool hasToken = false;
  std::string token;

  // Storage behind kith_registration (until the next kith_register).
  std::string regAddress, regSpiffeId, regIdentityHash, regToken;
  // Storage behind everything else handed back (until the next call).
  std::string json;
  std::deque<std::string> strings;  // a deque: elements never move
  std::vector<kith_workload> workloads;
};

namespace {

kith_status statusFromCode(Code c) {
  switch (c) {
    case Code::kOk: return KITH_OK;
    case Code::kBadRequest: return KITH_BAD_REQUEST;
    case Code::kTimeout: return KITH_TIMEOUT;
    case Code::kInvalidSource: return KITH_INVALID_SOURCE;
    case Code::kDestinationNotFound: return KITH_DESTINATION_NOT_FOUND;
    case Code::kDestinationUnreachable: return KITH_DESTINATION_UNREACHABLE;
    case Code::kCannotConnect: return KITH_CANNOT_CONNECT;
    case Code::kUnauthorized: return KITH_UNAUTHORIZED;
    case Code::kAlreadyRegistered: return KITH_ALREADY_REGISTERED;
    case Code::kRateLimited: return KITH_RATE_LIMITED;
    case Code::kInternal: return KITH_INTERNAL;
    case Code::kIo: return KITH_IO;
    default: return KITH_INTERNAL;
  }
}

void copyError(const std::string& msg, char* errbuf, size_t errlen) {
  if (!errbuf || errlen == 0) return;
  size_t n = msg.size() < errlen - 1 ? msg.size() : errlen - 1;
  std::memcpy(errbuf, msg.data(), n);
  errbuf[n] = '\0';
}

// Resets the client's per-call state at the start of every call.
void begin(kith_client* c) {
  c->errCode = "OK";
  c->errMessage.clear();
  c->json.clear();
  c->strings.clear();
  c->workloads.clear();
}

kith_status setError(kith_client* c, kith_status st, std::string code, std::string message) {
  c->errCode = std::move(code);
  c->errMessage = std::move(message);
  return st;
}

kith_status setError(kith_client* c, const Status& st) {
  kith_status s = statusFromCode(st.code());
  return setError(c, s, kith_status_name(s), st.message());
}

// The status of a reply; for an error reply the client's error is set from the
// wire (an unknown code keeps its wire name and maps to KITH_INTERNAL).
kith_status replyToStatus(kith_client* c, const Json& reply) {
  Status st = kith::api::replyStatus(reply);
  if (st.isOk()) return KITH_OK;
  std::string code = "INTERNAL";
  if (auto e = reply.find("error"); e != reply.end() && e->is_object()) {
    if (auto ci = e->find("code"); ci != e->end() && ci->is_string()) code = *ci;
  }
  return setError(c, statusFromCode(st.code()), code, st.message());
}

// Sends `req`, waits for the reply; returns KITH_OK with *out filled, or the
// error (client error set). On an error reply *out is filled too.
kith_status roundTrip(kith_client* c, Json req, Message* out, int extraWaitMs = 0) {
  Result<Message> r = c->conn.call(std::move(req), extraWaitMs);
  if (!r.isOk()) return setError(c, r.status());
  *out = std::move(r).value();
  return replyToStatus(c, out->json);
}

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer(const Json& j, const char* key, int64_t dflt = 0) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  if (it->is_number_integer() || it->is_number_unsigned()) return it->get<int64_t>();
  return dflt;
}

// Stores a string in the client's per-call storage; the pointer stays valid
// until the next begin().
const char* keep(kith_client* c, std::string s) {
  c->strings.push_back(std::move(s));
  return c->strings.back().c_str();
}

bool needToken(kith_client* c, const char* op) {
  if (c->hasToken) return true;
  setError(c, KITH_BAD_REQUEST, "BAD_REQUEST",
           std::string(op) + ": this client has no token (call kith_register or kith_set_token)");
  return false;
}

kith_status fillWorkloads(kith_client* c, const Json& reply, const kith_workload** out,
                          size_t* count) {
  auto it = reply.find("workloads");
  size_t n = it != reply.end() && it->is_array() ? it->size() : 0;
  c->workloads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Json& w = (*it)[i];
    if (!w.is_object()) continue;
    std::string protos;
    if (auto p = w.find("protocols"); p != w.end() && p->is_array()) {
      for (const auto& v : *p) {
        if (!v.is_string()) continue;
        if (!protos.empty()) protos += ",";
        protos += v.get<std::string>();
      }
    }
    kith_workload wl;
    wl.address = keep(c, str(w, "address"));
    wl.spiffe_id = keep(c, str(w, "spiffe_id"));
    wl.machine = keep(c, str(w, "machine"));
    wl.protocols = keep(c, protos);
    c->workloads.push_back(wl);
  }
  if (out) *out = c->workloads.empty() ? nullptr : c->workloads.data();
  if (count) *count = c->workloads.size();
  return KITH_OK;
}

Json stringArray(const char* const* items, size_t n) {
  Json a = Json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(items[i] ? items[i] : "");
  return a;
}

kith_status openSocket(const std::string& path, kith_client** out, char* errbuf, size_t errlen) {
  if (!out) {
    copyError("kith_open: out is NULL", errbuf, errlen);
    return KITH_BAD_REQUEST;
  }
  *out = nullptr;
  auto conn = Connection::open(path);
  if (!conn.isOk()) {
    copyError(conn.status().message(), errbuf, errlen);
    return KITH_IO;
  }
  // Ownership passes to the C caller; kith_close takes it back.
  *out = std::make_unique<kith_client>(std::move(conn).value()).release();
  return KITH_OK;
}

// Runs `body`, converting any exception into KITH_INTERNAL on the client.
template <typename F>
kith_status guarded(kith_client* c, F&& body) {
  if (!c) return KITH_BAD_REQUEST;
  try {
    begin(c);
    return body();
  } catch (const std::bad_alloc&) {
    return setError(c, KITH_INTERNAL, "INTERNAL", "out of memory");
  } catch (const std::exception& e) {
    return setError(c, KITH_INTERNAL, "INTERNAL", std::string("libkith: ") + e.what());
  } catch (...) {
    return setError(c, KITH_INTERNAL, "INTERNAL", "libkith: unexpected exception");
  }
}

// Simple request whose reply is only checked (and optionally kept as JSON).
kith_status simpleCall(kith_client* c, Json req, const char** jsonOut) {
  Message reply;
  kith_status st = roundTrip(c, std::move(req), &reply);
  if (jsonOut) *jsonOut = nullptr;
  if (st != KITH_OK) return st;
  if (jsonOut) {
    c->json = std::move(reply.line);
    *jsonOut = c->json.c_str();
  }
  return KITH_OK;
}

}  // namespace

extern "C" {

const char* kith_status_name(kith_status status) {
  switch (status) {
    case KITH_OK: return "OK";
    case KITH_BAD_REQUEST: return "BAD_REQUEST";
    case KITH_TIMEOUT: return "TIMEOUT";
    case KITH_INVALID_SOURCE: return "INVALID_SOURCE";
    case KITH_DESTINATION_NOT_FOUND: return "DESTINATION_NOT_FOUND";
    case KITH_DESTINATION_UNREACHABLE: return "DESTINATION_UNREACHABLE";
    case KITH_CANNOT_CONNECT: return "CANNOT_CONNECT";
    case KITH_UNAUTHORIZED: return "UNAUTHORIZED";
    case KITH_ALREADY_REGISTERED: return "ALREADY_REGISTERED";
    case KITH_RATE_LIMITED: return "RATE_LIMITED";
    case KITH_INTERNAL: return "INTERNAL";
    case KITH_IO: return "IO";
    case KITH_AGAIN: return "AGAIN";
  }
  return "UNKNOWN";
}

const char* kith_version(void) { return KITH_VERSION; }

kith_status kith_open(const char* socket_path, kith_client** out) {
  return kith_open_ex(socket_path, out, nullptr, 0);
}

kith_status kith_open_ex(const char* socket_path, kith_client** out, char* errbuf,
                         size_t errlen) {
  try {
    return openSocket(kith::api::resolveApiSocket(socket_path ? socket_path : ""), out, errbuf,
                      errlen);
  } catch (...) {
    copyError("out of memory", errbuf, errlen);
    return KITH_INTERNAL;
  }
}

kith_status kith_open_admin(const char* socket_path, kith_client** out, char* errbuf,
                            size_t errlen) {
  try {
    return openSocket(kith::api::resolveAdminSocket(socket_path ? socket_path : ""), out, errbuf,
                      errlen);
  } catch (...) {
    copyError("out of memory", errbuf, errlen);
    return KITH_INTERNAL;
  }
}

void kith_close(kith_client* client) { std::unique_ptr<kith_client> owned(client); }

void kith_set_timeout(kith_client* client, int timeout_ms) {
  if (client) client->conn.setReplyTimeout(timeout_ms < 0 ? -1 : timeout_ms);
}

int kith_fileno(const kith_client* client) { return client ? client->conn.fd() : -1; }

const char* kith_error_code(const kith_client* client) {
  return client ? client->errCode.c_str() : "BAD_REQUEST";
}

const char* kith_error_message(const kith_client* client) {
  return client ? client->errMessage.c_str() : "client is NULL";
}

kith_status kith_hello(kith_client* client, const char** json_out) {
  return guarded(client, [&] { return simpleCall(client, Json{{"op", "hello"}}, json_out); });
}

kith_status kith_daemon_status(kith_client* client, const char** json_out) {
  return guarded(client, [&] { return simpleCall(client, Json{{"op", "status"}}, json_out); });
}

kith_status kith_register(kith_client* client, const kith_register_options* opts,
                          kith_registration* out) {
  return guarded(client, [&]() -> kith_status {
    if (!opts || !opts->name || !*opts->name) {
      return setError(client, KITH_BAD_REQUEST, "BAD_REQUEST", "register: name is required");
    }
    Json req{{"op", "register"}, {"name", opts->name}};
    req["whitelist"] = stringArray(opts->whitelist, opts->whitelist ? opts->whitelist_len : 0);
    if (opts->target && *opts->target) req["target"] = opts->target;
    if (opts->proxy_protocol) req["proxy_protocol"] = true;
    if (opts->protocols && opts->protocols_len > 0) {
      req["protocols"] = stringArray(opts->protocols, opts->protocols_len);
    }
    if (opts->ttl_ms > 0) req["ttl_ms"] = opts->ttl_ms;
    if (opts->app && *opts->app) req["app"] = opts->app;
    Message reply;
    kith_status st = roundTrip(client, std::move(req), &reply);
    if (st != KITH_OK) return st;
    std::string token = str(reply.json, "token");
    if (token.empty()) {
      return setError(client, KITH_IO, "IO", "protocol error: register reply has no token");
    }
    client->regAddress = str(reply.json, "address");
    client->regSpiffeId = str(reply.json, "spiffe_id");
    client->regIdentityHash = str(reply.json, "identity_hash");
    client->regToken = token;
    client->token = std::move(token);
    client->hasToken = true;
    if (out) {
      out->address = client->regAddress.c_str();
      out->spiffe_id = client->regSpiffeId.c_str();
      out->identity_hash = client->regIdentityHash.c_str();
      out->token = client->regToken.c_str();
      out->ttl_ms = static_cast<int>(integer(reply.json, "ttl_ms", opts->ttl_ms));
    }
    return KITH_OK;
  });
}

void kith_set_token(kith_client* client, const char* token) {
  if (!client) return;
  try {
    client->hasToken = token != nullptr;
    client->token = token ? token : "";
  } catch (...) {
    client->hasToken = false;
  }
}

const char* kith_token(const kith_client* client) {
  return client && client->hasToken ? client->token.c_str() : nullptr;
}

kith_status kith_heartbeat(kith_client* client, int* ttl_ms_out) {
  return guarded(client, [&]() -> kith_status {
    if (!needToken(client, "heartbeat")) return KITH_BAD_REQUEST;
    Message reply;
    kith_status st = roundTrip(client, Json{{"op", "heartbeat"}, {"token", client->token}}, &reply);
    if (st != KITH_OK) return st;
    if (ttl_ms_out) *ttl_ms_out = static_cast<int>(integer(reply.json, "ttl_ms"));
    return KITH_OK;
  });
}

kith_status kith_deregister(kith_client* client) {
  return guarded(client, [&]() -> kith_status {
    if (!needToken(client, "deregister")) return KITH_BAD_REQUEST;
    kith_status st =
        simpleCall(client, Json{{"op", "deregister"}, {"token", client->token}}, nullptr);
    if (st == KITH_OK) {
      client->hasToken = false;
      client->token.clear();
    }
    return st;
  });
}

kith_status kith_resolve(kith_client* client, const char* name, int wait_ms,
                         const kith_workload** out, size_t* count) {
  if (out) *out = nullptr;
  if (count) *count = 0;
  return guarded(client, [&]() -> kith_status {
    if (!name || !*name) {
      return setError(client, KITH_BAD_REQUEST, "BAD_REQUEST", "resolve: name is required");
    }
    Json req{{"op", "resolve"}, {"name", name}, {"wait_ms", wait_ms > 0 ? wait_ms : 0}};
    Message reply;
    kith_status st = roundTrip(client, std::move(req), &reply, wait_ms > 0 ? wait_ms : 0);
    if (st != KITH_OK) return st;
    return fillWorkloads(client, reply.json, out, count);
  });
}

kith_status kith_list(kith_client* client, const kith_workload** out, size_t* count) {
  if (out) *out = nullptr;
  if (count) *count = 0;
  return guarded(client, [&]() -> kith_status {
    Message reply;
    kith_status st = roundTrip(client, Json{{"op", "list"}}, &reply);
    if (st != KITH_OK) return st;
    return fillWorkloads(client, reply.json, out, count);
  });
}

kith_status kith_connect(kith_client* client, const char* destination,
                         const kith_connect_options* opts, kith_connection* out) {
  if (out) *out = kith_connection{-1, nullptr, nullptr, nullptr};
  return guarded(client, [&]() -> kith_status {
    if (!destination || !*destination) {
      return setError(client, KITH_BAD_REQUEST, "BAD_REQUEST", "connect: destination is required");
    }
    if (!needToken(client, "connect")) return KITH_BAD_REQUEST;
    bool pathMode = opts && opts->mode == KITH_CONNECT_PATH;
    Json req{{"op", "connect"},
             {"token", client->token},
             {"destination", destination},
             {"proto", opts && opts->proto && *opts->proto ? opts->proto : "tcp"},
             {"mode", pathMode ? "path" : "fd"}};
    if (opts && opts->timeout_ms > 0) req["timeout_ms"] = opts->timeout_ms;
    Message reply;
    // The daemon may take up to its connect timeout to answer.
    int extra = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    kith_status st = roundTrip(client, std::move(req), &reply, extra);
    if (st != KITH_OK) return st;
    std::string path = str(reply.json, "path");
    if (pathMode && path.empty()) {
      return setError(client, KITH_IO, "IO", "protocol error: connect reply has no path");
    }
    if (!pathMode && !reply.fd) {
      return setError(client, KITH_IO, "IO", "protocol error: connect reply carries no stream");
    }
    if (out) {
      out->destination = keep(client, str(reply.json, "destination"));
      out->spiffe_id = keep(client, str(reply.json, "spiffe_id"));
      if (pathMode) {
        out->path = keep(client, std::move(path));
      } else {
        out->fd = reply.fd.release();
      }
    }
    return KITH_OK;  // without `out` the stream is closed with `reply`
  });
}

kith_status kith_listen(kith_client* client) {
  return guarded(client, [&]() -> kith_status {
    if (!needToken(client, "listen")) return KITH_BAD_REQUEST;
    return simpleCall(client, Json{{"op", "listen"}, {"token", client->token}}, nullptr);
  });
}

kith_status kith_accept(kith_client* client, int timeout_ms, kith_incoming* out) {
  if (out) *out = kith_incoming{-1, 0, nullptr, nullptr, nullptr};
  return guarded(client, [&]() -> kith_status {
    auto got = client->conn.nextIncoming(timeout_ms);
    if (!got.isOk()) return setError(client, got.status());
    if (!got->has_value()) {
      return setError(client, KITH_AGAIN, "AGAIN", "no inbound stream within the timeout");
    }
    Message& m = **got;
    if (out) {
      out->source = keep(client, str(m.json, "source"));
      out->spiffe_id = keep(client, str(m.json, "spiffe_id"));
      std::string proto = str(m.json, "proto");
      out->proto = keep(client, proto.empty() ? "tcp" : proto);
      int64_t stream = integer(m.json, "stream");
      out->stream = stream > 0 ? static_cast<uint64_t>(stream) : 0;
      out->fd = m.fd.release();
    }
    return KITH_OK;
  });
}

kith_status kith_watch(kith_client* client, const char* pattern) {
  return guarded(client, [&]() -> kith_status {
    Json req{{"op", "watch"}};
    if (pattern && *pattern) req["pattern"] = pattern;
    return simpleCall(client, std::move(req), nullptr);
  });
}

kith_status kith_next_event(kith_client* client, int timeout_ms, kith_event* out) {
  if (out) *out = kith_event{"", "", "", "", 0, ""};
  return guarded(client, [&]() -> kith_status {
    auto got = client->conn.nextEvent(timeout_ms);
    if (!got.isOk()) return setError(client, got.status());
    if (!got->has_value()) return setError(client, KITH_AGAIN, "AGAIN", "no event within the timeout");
    Message& m = **got;
    if (out) {
      out->type = keep(client, str(m.json, "event"));
      out->address = keep(client, str(m.json, "address"));
      out->spiffe_id = keep(client, str(m.json, "spiffe_id"));
      out->reason = keep(client, str(m.json, "reason"));
      out->ts = integer(m.json, "ts");
      client->json = std::move(m.line);
      out->json = client->json.c_str();
    }
    return KITH_OK;
  });
}

}  // extern "C"

namespace {
kith_status fillSvid(kith_client* c, const Json& j, kith_x509_svid* out) {
  std::string cert = str(j, "chain");
  if (cert.empty() || str(j, "key").empty() || str(j, "spiffe_id").empty()) {
    return setError(c, KITH_BAD_REQUEST, "BAD_REQUEST", "not an SVID: spiffe_id, chain or key is missing");
  }
  if (out) {
    out->spiffe_id = keep(c, str(j, "spiffe_id"));
    out->cert_pem = keep(c, std::move(cert));
    out->key_pem = keep(c, str(j, "key"));
    out->bundle_pem = keep(c, str(j, "bundle"));
    out->expires_at = integer(j, "expires_at");
    out->rotate_at = integer(j, "rotate_at");
  }
  return KITH_OK;
}
}  // namespace

extern "C" {

kith_status kith_svid(kith_client* client, int watch, kith_x509_svid* out) {
  if (out) *out = kith_x509_svid{nullptr, nullptr, nullptr, nullptr, 0, 0};
  return guarded(client, [&]() -> kith_status {
    if (!needToken(client, "svid")) return KITH_BAD_REQUEST;
    Message reply;
    kith_status st =
        roundTrip(client, Json{{"op", "svid"}, {"token", client->token}, {"watch", watch != 0}}, &reply);
    if (st != KITH_OK) return st;
    return fillSvid(client, reply.json, out);
  });
}

kith_status kith_svid_from_event(kith_client* client, const char* event_json, kith_x509_svid* out) {
  if (out) *out = kith_x509_svid{nullptr, nullptr, nullptr, nullptr, 0, 0};
  std::string text = event_json ? event_json : "";  // may point into the client's storage
  return guarded(client, [&]() -> kith_status {
    Json j = kith::parseJson(text);
    if (!j.is_object() || str(j, "event") != "svid") {
      return setError(client, KITH_BAD_REQUEST, "BAD_REQUEST", "not an svid event");
    }
    return fillSvid(client, j, out);
  });
}

kith_status kith_request(kith_client* client, const char* json_request, char** json_reply_out,
                         int* fd_out) {
  if (json_reply_out) *json_reply_out = nullptr;
  if (fd_out) *fd_out = -1;
  return guarded(client, [&]() -> kith_status {
    if (!json_request) {
      return setError(client, KITH_BAD_REQUEST, "BAD_REQUEST", "request is NULL");
    }
    auto req = kith::api::parseRequest(json_request);
    if (!req.isOk()) return setError(client, req.status());
    Message reply;
    Result<Message> r = client->conn.call(std::move(req).value());
    if (!r.isOk()) return setError(client, r.status());
    reply = std::move(r).value();
    if (json_reply_out) {
      char* copy = static_cast<char*>(std::malloc(reply.line.size() + 1));
      if (!copy) return setError(client, KITH_INTERNAL, "INTERNAL", "out of memory");
      std::memcpy(copy, reply.line.c_str(), reply.line.size() + 1);
      *json_reply_out = copy;
    }
    if (fd_out && reply.fd) *fd_out = reply.fd.release();
    return replyToStatus(client, reply.json);
  });
}

void kith_free(void* ptr) { std::free(ptr); }

}  // extern "C"
