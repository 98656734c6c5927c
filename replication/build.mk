# replication/build.mk — signed records (RAINS short assertions), verifier, record set, ZeroMQ CURVE peer links.
$(eval $(call kith_library,replication,replication))
