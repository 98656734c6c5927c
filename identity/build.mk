# identity/build.mk — keys (libsodium), SPIFFE IDs, X.509 CA and certificates (wolfSSL).
$(eval $(call kith_library,identity,identity))
