$(eval $(call kith_library,daemon,daemon))

# kithd: daemon/main.cpp only wires (CLI, config, identity) and runs.
KITHD_OBJS := $(OBJ)/daemon/main.o
ALL_OBJS += $(KITHD_OBJS)
$(BIN)/kithd: $(KITHD_OBJS) $(KITH_INTERNAL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(KITHD_OBJS) $(KITH_INTERNAL_LIBS) $(DEP_LIBS)
ALL_TARGETS += $(BIN)/kithd
