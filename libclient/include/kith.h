/*
 * kith.h — libkith, the C client library of the kith socket API.
 *
 * A workload links libkith to talk to its machine's kithd over a Unix socket
 * (api.sock, or admin.sock for operator tools): register an identity, keep the
 * lease alive, resolve and connect to other workloads, listen for inbound
 * streams, watch registrations. The wire protocol is kith-socket-api(7); this
 * header is the whole C API and libkith(3) documents every function.
 *
 * Conventions
 *   - Every fallible function returns a kith_status. KITH_OK is 0. On failure the
 *     client remembers why: kith_error_code() gives the wire name
 *     ("UNAUTHORIZED", ..., or "IO" for a local socket error) and
 *     kith_error_message() a human message. Both are reset by the next call.
 *   - Strings and arrays that a function hands back through `const char*` or
 *     `const T*` out-parameters are owned by the client and stay valid until the
 *     next call on the same client (kith_error_* and kith_fileno excepted) or
 *     kith_close(). Copy what you keep. The kith_registration filled by
 *     kith_register() is the exception: it stays valid until the next
 *     kith_register() or kith_close().
 *   - Descriptors handed to the caller (connected streams, accepted streams,
 *     kith_request's fd_out) are owned by the caller, who closes them. Every
 *     other descriptor the daemon sends is closed by the library. All received
 *     descriptors are close-on-exec.
 *   - A kith_client is NOT thread-safe: use one client per thread, or serialise
 *     calls on it. Different clients are independent. kith_status_name() and
 *     kith_version() are safe from any thread.
 *   - No function raises signals: writes use MSG_NOSIGNAL, so a daemon that
 *     goes away gives KITH_IO, never SIGPIPE.
 *   - Timeouts are in milliseconds; -1 means wait forever, 0 means do not wait.
 */
#ifndef KITH_H
#define KITH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the socket API protocol this library speaks. */
#define KITH_PROTOCOL_VERSION 1

/*
 * Result of every fallible call. KITH_BAD_REQUEST .. KITH_INTERNAL are the
 * daemon's stable error codes (same names on the wire). KITH_IO is a local
 * failure: the socket could not be opened, the daemon closed it, a reply was
 * malformed or did not arrive within the client's timeout. KITH_AGAIN means a
 * wait with a timeout ended with nothing to deliver (kith_accept,
 * kith_next_event); it is not an error of the connection.
 */
typedef enum kith_status {
  KITH_OK = 0,
  KITH_BAD_REQUEST,
  KITH_TIMEOUT, /* the session's lease expired (the token was valid once) */
  KITH_INVALID_SOURCE,
  KITH_DESTINATION_NOT_FOUND,
  KITH_DESTINATION_UNREACHABLE,
  KITH_CANNOT_CONNECT,
  KITH_UNAUTHORIZED,
  KITH_ALREADY_REGISTERED,
  KITH_RATE_LIMITED,
  KITH_INTERNAL,
  KITH_IO,   /* local socket error, or a broken/malformed reply */
  KITH_AGAIN /* nothing arrived within the timeout */
} kith_status;

/* "OK", "BAD_REQUEST", ..., "INTERNAL", "IO", "AGAIN"; "UNKNOWN" otherwise.
 * Static storage. */
const char* kith_status_name(kith_status status);

/* The library's version, e.g. "0.1.0". Static storage. */
const char* kith_version(void);

/* ---- Connection ------------------------------------------------------- */

/* Opaque handle: one connection to kithd. */
typedef struct kith_client kith_client;

/*
 * Connects to the daemon's api.sock. `socket_path` NULL or "" uses the lookup
 * order: $KITH_SOCKET, else $KITH_HOME/run/api.sock, else /run/kith/api.sock.
 * On success *out is a new client (free it with kith_close). On failure *out is
 * NULL, and the reason is lost with it: use kith_open_ex for a message.
 */
kith_status kith_open(const char* socket_path, kith_client** out);

/*
 * Like kith_open, but on failure writes a NUL-terminated message into
 * errbuf[0..errlen) (if errbuf is not NULL).
 */
kith_status kith_open_ex(const char* socket_path, kith_client** out, char* errbuf,
                         size_t errlen);

/*
 * Connects to the daemon's admin.sock, which lives beside api.sock: `path` is
 * resolved as for kith_open and "admin.sock" replaces its file name (a path
 * whose file name is already admin.sock is used as is). Admin ops need root or
 * the daemon's admin group. errbuf as for kith_open_ex (may be NULL).
 */
kith_status kith_open_admin(const char* socket_path, kith_client** out, char* errbuf,
                            size_t errlen);

/* Closes the connection and every descriptor still queued in it. NULL is a
 * no-op. Closing the registering connection ends a lease that relies on the
 * connection (see kith_heartbeat). */
void kith_close(kith_client* client);

/*
 * Maximum time to wait for each reply, in ms; -1 (the default) waits forever.
 * A request whose reply does not arrive in time fails with KITH_IO and leaves
 * the client broken (every later call fails with KITH_IO), because a late
 * reply could no longer be matched. For kith_resolve the wait_ms is added, for
 * kith_connect its connect timeout (default 5000).
 */
void kith_set_timeout(kith_client* client, int timeout_ms);

/*
 * The connection's descriptor, for poll()/epoll integration: it becomes
 * readable when the daemon sends something. Messages may already be queued in
 * the client, so after a wake-up (and before sleeping) drain with
 * kith_accept/kith_next_event and timeout 0 until they return KITH_AGAIN.
 * Never read from or write to it yourself.
 */
int kith_fileno(const kith_client* client);

/* Wire name of the last failure on this client ("OK" after a success). Valid
 * until the next call on the client. */
const char* kith_error_code(const kith_client* client);
/* Human message of the last failure ("" after a success). Same lifetime. */
const char* kith_error_message(const kith_client* client);

/* ---- Daemon information ----------------------------------------------- */

/* `hello`: the reply as JSON text (version, daemon, machine, trust_domain, and
 * `peer`: what the daemon sees of this process). *json_out is valid until the
 * next call on the client. */
kith_status kith_hello(kith_client* client, const char** json_out);

/* `status`: the daemon's status reply as JSON text (daemon, version, machine,
 * trust_domain, uptime_ms, workloads, connections, pid). Lifetime as
 * kith_hello. */
kith_status kith_daemon_status(kith_client* client, const char** json_out);

/* ---- Registration ----------------------------------------------------- */

/* Options of kith_register. Zero-initialise, then set what you need. */
typedef struct kith_register_options {
  const char* name;                /* required: "scope.group.identity.resource" */
  const char* const* whitelist;    /* patterns that may connect to this workload */
  size_t whitelist_len;
  const char* target;              /* NULL, "unix:/path" or "tcp:127.0.0.1:PORT" */
  int proxy_protocol;              /* non-zero: PROXY v2 header to the target */
  const char* const* protocols;    /* NULL: ["tcp"]; else e.g. {"tcp","udp"} */
  size_t protocols_len;
  int ttl_ms;                      /* 0: daemon default (30000) */
  const char* app;                 /* NULL: the executable's basename */
} kith_register_options;

/* What the daemon assigned. Strings are owned by the client and stay valid
 * until the next kith_register() on it or kith_close(). */
typedef struct kith_registration {
  const char* address;       /* five labels, the machine name appended */
  const char* spiffe_id;     /* spiffe://<trust domain>/<labels...> */
  const char* identity_hash; /* 64 hex characters */
  const char* token;         /* 64 hex characters; the session token */
  int ttl_ms;                /* the lease without connection or heartbeat */
} kith_registration;

/*
 * `register`: registers this process under opts->name. On success the client
 * remembers the token; kith_heartbeat, kith_deregister, kith_listen and
 * kith_connect use it. `out` may be NULL. The lease lives while this process
 * lives and either this connection stays open or kith_heartbeat is called
 * within ttl_ms. Errors: KITH_BAD_REQUEST (name, patterns, target),
 * KITH_ALREADY_REGISTERED, KITH_UNAUTHORIZED (another machine's address).
 */
kith_status kith_register(kith_client* client, const kith_register_options* opts,
                          kith_registration* out);

/* Makes this client act for a registration made elsewhere (e.g. on another
 * kith_client of the same process): sets the token used by heartbeat,
 * deregister, listen and connect. NULL clears it. Does not talk to the daemon. */
void kith_set_token(kith_client* client, const char* token);
/* The current token, or NULL. Valid until the next kith_register,
 * kith_set_token, kith_deregister or kith_close. */
const char* kith_token(const kith_client* client);

/* `heartbeat`: renews the lease. *ttl_ms_out (may be NULL) gets the lease.
 * Errors: KITH_INVALID_SOURCE, KITH_TIMEOUT, KITH_UNAUTHORIZED; KITH_BAD_REQUEST
 * when the client has no token. */
kith_status kith_heartbeat(kith_client* client, int* ttl_ms_out);

/* `deregister`: ends the registration now; the client forgets the token. */
kith_status kith_deregister(kith_client* client);

/* ---- Discovery -------------------------------------------------------- */

typedef struct kith_workload {
  const char* address;
  const char* spiffe_id;
  const char* machine;
  const char* protocols; /* comma-separated, e.g. "tcp" or "tcp,udp" */
} kith_workload;

/*
 * `resolve`: the workloads matching an address or pattern. With wait_ms > 0 the
 * daemon waits up to wait_ms for a first match. *out points to *count entries
 * owned by the client (valid until the next call). No match:
 * KITH_DESTINATION_NOT_FOUND.
 */
kith_status kith_resolve(kith_client* client, const char* name, int wait_ms,
                         const kith_workload** out, size_t* count);

/* `list`: every registration the daemon knows. Lifetime as kith_resolve. */
kith_status kith_list(kith_client* client, const kith_workload** out, size_t* count);

/* ---- Connecting ------------------------------------------------------- */

typedef enum kith_connect_mode {
  KITH_CONNECT_FD = 0,  /* the daemon passes a connected stream (SCM_RIGHTS) */
  KITH_CONNECT_PATH = 1 /* the daemon gives a one-shot Unix socket path */
} kith_connect_mode;

/* Options of kith_connect; NULL means all defaults. Zero-initialise. */
typedef struct kith_connect_options {
  const char* proto;      /* NULL: "tcp"; or "udp" */
  kith_connect_mode mode; /* default KITH_CONNECT_FD */
  int timeout_ms;         /* 0: daemon default (5000) */
} kith_connect_options;

typedef struct kith_connection {
  int fd;                  /* KITH_CONNECT_FD: the stream, owned by the caller; else -1 */
  const char* path;        /* KITH_CONNECT_PATH: socket path to connect() to; else NULL */
  const char* destination; /* the address chosen (a pattern resolves to one) */
  const char* spiffe_id;   /* the destination's SPIFFE ID */
} kith_connection;

/*
 * `connect`: opens a stream to `destination` (a five-label address or a
 * pattern) as the registered workload (needs a token). The strings in *out are
 * valid until the next call on the client. In path mode the socket at out->path
 * accepts one connection within the timeout, from this uid only.
 * Errors: KITH_TIMEOUT, KITH_INVALID_SOURCE, KITH_UNAUTHORIZED (the message
 * says why), KITH_DESTINATION_NOT_FOUND, KITH_DESTINATION_UNREACHABLE,
 * KITH_CANNOT_CONNECT.
 */
kith_status kith_connect(kith_client* client, const char* destination,
                         const kith_connect_options* opts, kith_connection* out);

/* ---- Serving ---------------------------------------------------------- */

/*
 * `listen`: makes this connection the listener of the registration (needs a
 * token); inbound streams are then taken with kith_accept. A registration with
 * a target cannot listen (KITH_BAD_REQUEST).
 */
kith_status kith_listen(kith_client* client);

typedef struct kith_incoming {
  int fd;                /* the stream, owned by the caller */
  uint64_t stream;       /* the daemon's stream number */
  const char* source;    /* the caller's address */
  const char* spiffe_id; /* the caller's SPIFFE ID */
  const char* proto;     /* "tcp" or "udp" */
} kith_incoming;

/*
 * Takes the next inbound stream, waiting up to timeout_ms (-1 forever).
 * Streams that arrived while the client waited for a reply were queued and
 * come first, in arrival order. KITH_AGAIN: none within the timeout. KITH_IO:
 * the daemon closed the connection (queued streams are still delivered first).
 * Strings valid until the next call on the client.
 */
kith_status kith_accept(kith_client* client, int timeout_ms, kith_incoming* out);

/* ---- Watching --------------------------------------------------------- */

/* `watch`: asks for an event on every registration change matching `pattern`
 * (NULL: all). Events are read with kith_next_event; other requests may still
 * be made on the client. */
kith_status kith_watch(kith_client* client, const char* pattern);

typedef struct kith_event {
  const char* type;      /* "register", "deregister", "log", ... */
  const char* address;   /* "" if the event has none */
  const char* spiffe_id; /* "" if none */
  const char* reason;    /* deregister: "exit|expired|deregister|replaced"; else "" */
  int64_t ts;            /* microseconds since the epoch; 0 if none */
  const char* json;      /* the whole event as one line of JSON */
} kith_event;

/*
 * Takes the next event (anything the daemon sends on its own except inbound
 * streams, which kith_accept takes), waiting up to timeout_ms. Events that
 * arrived while the client waited for a reply were queued and come first.
 * KITH_AGAIN: none within the timeout. Strings valid until the next call.
 */
kith_status kith_next_event(kith_client* client, int timeout_ms, kith_event* out);

/* ---- X.509-SVIDs ------------------------------------------------------ */

/* A workload's X.509-SVID as the daemon issued it. Strings are owned by the
 * client and valid until the next call on it. */
typedef struct kith_x509_svid {
  const char* spiffe_id;  /* the URI SAN */
  const char* cert_pem;   /* the chain: the SVID, then the node CA that issued it */
  const char* key_pem;    /* the SVID's private key, PKCS#8 PEM (Ed25519); made
                             for this call only, the daemon keeps no copy */
  const char* bundle_pem; /* the trust bundle: the trust domain's root certificate */
  int64_t expires_at;     /* Unix seconds */
  int64_t rotate_at;      /* Unix seconds: half-life, when a new one is issued */
} kith_x509_svid;

/*
 * `svid`: a new X.509-SVID (fresh key pair) for the registered workload (needs
 * a token), valid for the daemon's [identity] svid_ttl_s (default 1 h). With
 * `watch` non-zero the daemon also sends this connection an event of type
 * "svid" with a new SVID at every half-life (and when the node identity
 * rotates) until the registration ends or the client closes; read it with
 * kith_next_event and decode it with kith_svid_from_event.
 * Errors: KITH_INVALID_SOURCE (no such registration), KITH_TIMEOUT,
 * KITH_UNAUTHORIZED (another uid's token), KITH_INTERNAL (the daemon has no
 * node CA).
 */
kith_status kith_svid(kith_client* client, int watch, kith_x509_svid* out);

/* Decodes the JSON of an "svid" event (kith_event.json) into *out. The text
 * is copied first, so passing kith_event.json of the same client is fine.
 * KITH_BAD_REQUEST when it is not an svid event. */
kith_status kith_svid_from_event(kith_client* client, const char* event_json, kith_x509_svid* out);

/* ---- Any request ------------------------------------------------------ */

/*
 * Sends one request given as a JSON object (it must have "op"; an "id" is
 * added if missing) and waits for its reply. This reaches every op, including
 * admin ops on a client from kith_open_admin.
 * *json_reply_out (may be NULL) gets the reply as one line of JSON, allocated
 * with malloc: free it with kith_free() (or free()). It is set for error
 * replies too, and NULL when no reply arrived.
 * If the reply carries a descriptor ("fd": true) it goes to *fd_out, owned by
 * the caller; with fd_out NULL it is closed. *fd_out is -1 otherwise.
 * Returns the reply's status: KITH_OK for "ok": true, else its error code.
 * The request must be at most 65535 bytes once serialised (KITH_BAD_REQUEST).
 */
kith_status kith_request(kith_client* client, const char* json_request, char** json_reply_out,
                         int* fd_out);

/* Frees a string allocated by libkith (kith_request's reply). NULL is a no-op. */
void kith_free(void* ptr);

#ifdef __cplusplus
}
#endif

#endif /* KITH_H */
