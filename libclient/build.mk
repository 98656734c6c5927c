# libclient/build.mk — libkith (static and shared), kith.pc, kithcat, kithctl.
#
# libkith carries the socket-api and common objects inside it, so a user links
# only -lkith (plus -lstdc++ when linking the static library from C). The shared
# library exports only the kith_* C symbols (libclient/libkith.map).
# kithcat and kithctl link the static library: they run without LD_LIBRARY_PATH.

LIBKITH_SRCS := $(wildcard libclient/src/*.cpp)
LIBKITH_OWN_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(LIBKITH_SRCS))
LIBKITH_OBJS := $(LIBKITH_OWN_OBJS) $(socket_api_OBJS) $(common_OBJS)
LIBKITH_SOVERSION := 0
ALL_OBJS += $(LIBKITH_OWN_OBJS)

$(LIB)/libkith.a: $(LIBKITH_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "  AR  $@"
	$(Q)$(AR) rcs $@ $^

$(LIB)/libkith.so.$(VERSION): $(LIBKITH_OBJS) libclient/libkith.map
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) -shared $(LDFLAGS) -Wl,-soname,libkith.so.$(LIBKITH_SOVERSION) \
	  -Wl,--version-script=libclient/libkith.map -Wl,--no-undefined \
	  -o $@ $(LIBKITH_OBJS)

$(LIB)/libkith.so.$(LIBKITH_SOVERSION): $(LIB)/libkith.so.$(VERSION)
	$(Q)ln -sf $(<F) $@

$(LIB)/libkith.so: $(LIB)/libkith.so.$(LIBKITH_SOVERSION)
	$(Q)ln -sf $(<F) $@

$(LIB)/pkgconfig/kith.pc: libclient/kith.pc.in mk/main.mk
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# kithcat and kithctl: each is the .cpp files of its folder.
KITHCAT_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(wildcard libclient/kithcat/*.cpp))
# kithctl forward relays with kithcat's pump.
KITHCTL_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(wildcard libclient/kithctl/*.cpp)) $(OBJ)/libclient/kithcat/pump.o
ALL_OBJS += $(KITHCAT_OBJS) $(KITHCTL_OBJS)

$(BIN)/kithcat: $(KITHCAT_OBJS) $(LIB)/libkith.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(KITHCAT_OBJS) $(LIB)/libkith.a

# kithctl's offline commands (policy test, ca; later host) use policy/,
# identity/ and replication/ (the deleg record) directly (identity needs wolfSSL
# and libsodium at link time);
# everything that talks to the daemon goes through libkith.
KITHCTL_OFFLINE_LIBS := $(LIB)/libkith_policy.a $(LIB)/libkith_replication.a $(LIB)/libkith_identity.a
$(BIN)/kithctl: $(KITHCTL_OBJS) $(LIB)/libkith.a $(KITHCTL_OFFLINE_LIBS)
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(KITHCTL_OBJS) $(KITHCTL_OFFLINE_LIBS) $(LIB)/libkith.a \
	  $(WOLFSSL_LIBS) -lsodium

LIBCLIENT_TARGETS := $(LIB)/libkith.a $(LIB)/libkith.so $(LIB)/pkgconfig/kith.pc \
                     $(BIN)/kithcat $(BIN)/kithctl
ALL_TARGETS += $(LIBCLIENT_TARGETS)
.PHONY: libclient
libclient: $(LIBCLIENT_TARGETS)

# The unit tests drive the library through its C API and test kithcat's pump
# and kithctl's formatting directly: link those objects and libkith.a after the
# folder libraries (tests/build.mk defines the rule; this adds to it).
LIBCLIENT_TEST_OBJS := $(OBJ)/libclient/kithcat/pump.o $(OBJ)/libclient/kithctl/format.o \
                       $(OBJ)/libclient/kithctl/table.o
$(OBJ)/tests/unit/libclient/%.o: CPPFLAGS += -Ilibclient/kithcat -Ilibclient/kithctl
# tools_test runs the built kithcat and kithctl (from ../bin beside the test).
$(TESTBIN)/unit_libclient: $(LIB)/libkith.a $(LIBCLIENT_TEST_OBJS) $(BIN)/kithcat $(BIN)/kithctl
$(TESTBIN)/unit_libclient: TEST_LIBS := $(LIBCLIENT_TEST_OBJS) $(LIB)/libkith.a $(TEST_LIBS)
