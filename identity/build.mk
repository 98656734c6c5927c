# identity/build.mk
