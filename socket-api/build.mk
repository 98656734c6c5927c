# socket-api/build.mk
