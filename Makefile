# kith — thin top level. The real rules live in mk/main.mk and each folder's
# build.mk. Every public target first runs scripts/deps.sh (idempotent, cached),
# then re-enters make so the freshly built tuned wolfSSL is seen.
#
#   make run      install deps, build, start `kithd --dev` (state under ./.kith/)
#   make test     install deps, build, run every test; last line "N passed, N failed"
#   make bench    side-by-side figures (see bench/README.md)
#   make asan     the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make install  PREFIX=/usr/local DESTDIR=
#   make static   one statically linked kithd (build/bin/kithd-static)

PUBLIC_TARGETS := all test unit integration run bench install asan static fuzz
MAKEFLAGS += --no-print-directory

.PHONY: $(PUBLIC_TARGETS) deps clean
.DEFAULT_GOAL := all

$(PUBLIC_TARGETS): deps
	@$(MAKE) -j$$(nproc) -f mk/main.mk $@

deps:
	@scripts/deps.sh

clean:
	rm -rf build build-asan
