// RAII owners and small helpers for the wolfSSL objects of the vhost listener
// (STYLE 4). Every source that includes wolfSSL in the daemon includes this
// header: <wolfssl/options.h> must come before any other wolfSSL header.
//
// Thread rules: a context is built on the loop thread and then only read;
// each WOLFSSL session belongs to one connection on the loop thread.
#pragma once

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <memory>
#include <string>
#include <string_view>

#include "kith/common/encoding.h"
#include "kith/common/status.h"

namespace kith::daemon {

using SslCtxPtr = std::unique_ptr<WOLFSSL_CTX, decltype(&wolfSSL_CTX_free)>;
using SslPtr = std::unique_ptr<WOLFSSL, decltype(&wolfSSL_free)>;

// A TLS 1.2/1.3 server context presenting `chainPem` (leaf first) with
// `keyPem`. Client certificates are asked for and, when sent, must chain to
// one of `clientCaPem` (several PEM certificates allowed); a client without
// one is accepted (the listener decides what it may do).
Result<SslCtxPtr> makeVhostServerCtx(std::string_view chainPem, std::string_view keyPem,
                                     std::string_view clientCaPem);

// The peer's leaf certificate as DER, if it sent one (wolfSSL_get_peer_chain:
// wolfSSL_get_peer_certificate is NULL for Ed25519 peers in this build).
std::optional<Bytes> peerLeafDer(WOLFSSL* ssl);

// "<what>: <wolfSSL's reason> (<code>)" for the session's last error.
std::string sslError(WOLFSSL* ssl, int rc);

}  // namespace kith::daemon
