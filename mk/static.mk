# mk/static.mk — `make static`: kithd as one statically linked executable,
# build/bin/kithd-static (glibc, libstdc++, libuv, ZeroMQ and what it pulls in,
# SQLite, libsodium, wolfSSL: all from Debian's .a archives; libuv's is libuv_a.a).
#
# One gap, filled on purpose: Debian's libzmq.a calls GSSAPI, and MIT Kerberos
# ships no static archive, so daemon/static/gss_stubs.c stands in (kith uses
# only CURVE; see that file). glibc's NSS (getgrnam for api.admin_group,
# getaddrinfo for host names in replication endpoints) still loads libnss_*.so
# at run time in a static program: give numeric addresses, or run on a machine
# with the same glibc for admin_group name lookups.

STATIC_EXTRA_OBJS := $(OBJ)/daemon/static/gss_stubs.o
ALL_OBJS += $(STATIC_EXTRA_OBJS)
# Order matters for static archives: users before what they use.
STATIC_DEP_LIBS := $(WOLFSSL_LIBS) -l:libuv_a.a -lzmq -lsqlite3 -lsodium -lpgm -lnorm -lprotokit -lxml2 \
                   -licui18n -licuuc -licudata -lz -llzma -lbsd -lmd -lm -ldl -lrt -lpthread

$(BIN)/kithd-static: $(KITHD_OBJS) $(KITH_INTERNAL_LIBS) $(STATIC_EXTRA_OBJS)
	@mkdir -p $(@D)
	@echo "  LD  $@ (static)"
	$(Q)$(CXX) -static $(LDFLAGS) -o $@ $(KITHD_OBJS) $(KITH_INTERNAL_LIBS) $(STATIC_EXTRA_OBJS) \
	  -Wl,--start-group $(STATIC_DEP_LIBS) -Wl,--end-group 2>$(BUILD)/kithd-static.ld.log || \
	  { cat $(BUILD)/kithd-static.ld.log; exit 1; }
	$(Q)grep -v "statically linked applications requires at runtime" $(BUILD)/kithd-static.ld.log | \
	  grep -v "^/usr/bin/ld: .*in function" || true

static: $(BIN)/kithd-static $(BIN)/kithctl
	@scripts/check-static.sh $(BIN)
