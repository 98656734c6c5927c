# bench/build.mk — `make bench`: every $(BENCH_TARGETS) built, then bench/run.sh
# runs them and prints their tables. Folders add their own benches by appending
# to BENCH_TARGETS in their build.mk (policy/build.mk: bench_policy); this file
# is included after them, so its `bench` prerequisites see every one.

# bench_api: the daemon's own figures against a real kithd (registrations/s,
# round trips, RSS, connect + echo beside plain Unix and TCP). Its own small
# client (bench/api_client.*) so that it does not depend on tests/ or libkith.
BENCH_API_SRCS := bench/api_bench.cpp bench/api_client.cpp bench/echo_servers.cpp \
                  bench/kithd_process.cpp bench/register_load.cpp
BENCH_API_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(BENCH_API_SRCS))
ALL_OBJS += $(BENCH_API_OBJS)

$(BIN)/bench_api: $(BENCH_API_OBJS) $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(BENCH_API_OBJS) $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a $(DEP_LIBS)
BENCH_TARGETS += $(BIN)/bench_api

# bench_tcp_probe: the client/echo side of bench/tunnel_bench.sh (kith's
# tunnels beside direct TCP, socat and a stunnel pair).
$(BIN)/bench_tcp_probe: $(OBJ)/bench/tcp_probe.o
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^ -lpthread
ALL_OBJS += $(OBJ)/bench/tcp_probe.o
BENCH_TARGETS += $(BIN)/bench_tcp_probe

# bench_kith_probe: the same rr/cps figures through libkith (kith_connect,
# kith_listen/kith_accept: streams handed over as descriptors, no TCP per
# stream), the kith-api row of bench/tunnel_bench.sh.
$(BIN)/bench_kith_probe: $(OBJ)/bench/kith_probe.o $(LIB)/libkith.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(OBJ)/bench/kith_probe.o $(LIB)/libkith.a -lpthread
ALL_OBJS += $(OBJ)/bench/kith_probe.o
BENCH_TARGETS += $(BIN)/bench_kith_probe

# bench_replication: register-to-visible over 10 daemons, a fresh daemon's
# catch-up of 100,000 records, bytes and RSS per record (bench/README.md).
BENCH_REPL_SRCS := bench/bench_replication.cpp bench/api_client.cpp bench/kithd_process.cpp bench/register_load.cpp
BENCH_REPL_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(BENCH_REPL_SRCS))
ALL_OBJS += $(OBJ)/bench/bench_replication.o
$(BIN)/bench_replication: $(BENCH_REPL_OBJS) $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(BENCH_REPL_OBJS) $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a $(DEP_LIBS)
BENCH_TARGETS += $(BIN)/bench_replication
# bench_vhost: the FOKS vhost listener (handshakes/s with 100 hosts, routing
# hop latency beside direct TLS) against a real kithd.
BENCH_VHOST_SRCS := bench/bench_vhost.cpp bench/api_client.cpp bench/kithd_process.cpp
BENCH_VHOST_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(BENCH_VHOST_SRCS))
ALL_OBJS += $(OBJ)/bench/bench_vhost.o
$(BIN)/bench_vhost: $(BENCH_VHOST_OBJS) $(LIB)/libkith_identity.a $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(BENCH_VHOST_OBJS) $(LIB)/libkith_identity.a $(LIB)/libkith_socket_api.a $(LIB)/libkith_common.a $(DEP_LIBS)
BENCH_TARGETS += $(BIN)/bench_vhost

# bench_api starts build/bin/kithd, so the daemon is built first.
# BENCH_FLAGS=--quick: a tenth of the counts (a smoke run, not figures).
bench: $(BENCH_TARGETS) $(BIN)/kithd $(BIN)/kithctl $(BIN)/kithcat
	@bench/run.sh $(BUILD) $(BENCH_FLAGS)
