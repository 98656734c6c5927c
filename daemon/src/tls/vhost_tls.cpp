#include "kith/daemon/tls/vhost_tls.h"

#include <mutex>
#include <optional>

namespace kith::daemon {

Result<SslCtxPtr> makeVhostServerCtx(std::string_view chainPem, std::string_view keyPem,
                                     std::string_view clientCaPem) {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
  SslCtxPtr ctx(wolfSSL_CTX_new(wolfSSLv23_server_method()), &wolfSSL_CTX_free);
  if (!ctx) return Status::internal("wolfSSL_CTX_new failed");
  // TLS 1.2 and 1.3 only.
  if (wolfSSL_CTX_SetMinVersion(ctx.get(), WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
    return Status::internal("wolfSSL_CTX_SetMinVersion failed");
  }
  auto buf = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  if (wolfSSL_CTX_use_certificate_chain_buffer(ctx.get(), buf(chainPem), static_cast<long>(chainPem.size())) !=
      WOLFSSL_SUCCESS) {
    return Status::crypto("vhost certificate chain not accepted by wolfSSL");
  }
  if (wolfSSL_CTX_use_PrivateKey_buffer(ctx.get(), buf(keyPem), static_cast<long>(keyPem.size()),
                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
      wolfSSL_CTX_check_private_key(ctx.get()) != WOLFSSL_SUCCESS) {
    return Status::crypto("vhost key not accepted by wolfSSL or does not match its certificate");
  }
  if (!clientCaPem.empty() &&
      wolfSSL_CTX_load_verify_buffer(ctx.get(), buf(clientCaPem), static_cast<long>(clientCaPem.size()),
                                     WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    return Status::crypto("vhost client CA certificates not accepted by wolfSSL");
  }
  wolfSSL_CTX_set_verify(ctx.get(), clientCaPem.empty() ? WOLFSSL_VERIFY_NONE : WOLFSSL_VERIFY_PEER, nullptr);
  return ctx;
}

std::optional<Bytes> peerLeafDer(WOLFSSL* ssl) {
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl);
  if (chain == nullptr || wolfSSL_get_chain_count(chain) < 1) return std::nullopt;
  const unsigned char* der = wolfSSL_get_chain_cert(chain, 0);
  int n = wolfSSL_get_chain_length(chain, 0);
  if (der == nullptr || n <= 0) return std::nullopt;
  return Bytes(der, der + n);
}

std::string sslError(WOLFSSL* ssl, int rc) {
  int err = wolfSSL_get_error(ssl, rc);
  char reason[WOLFSSL_MAX_ERROR_SZ];
  wolfSSL_ERR_error_string(static_cast<unsigned long>(err), reason);
  return std::string(reason) + " (" + std::to_string(err) + ")";
}

}  // namespace kith::daemon
