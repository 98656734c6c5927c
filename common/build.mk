$(eval $(call kith_library,common,common))
