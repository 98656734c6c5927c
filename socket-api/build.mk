$(eval $(call kith_library,socket_api,socket-api))
