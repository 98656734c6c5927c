# replication/build.mk
