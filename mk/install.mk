# mk/install.mk — `make install` (PREFIX=/usr/local DESTDIR=): binaries,
# library, headers, kith.pc, man pages, the systemd unit and a sample config.

BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
LIBDIR := $(PREFIX)/lib
INCDIR := $(PREFIX)/include
MANDIR := $(PREFIX)/share/man
DOCDIR := $(PREFIX)/share/doc/kith
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

.PHONY: install
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCDIR)/kith $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN)/kithd $(DESTDIR)$(SBINDIR)/kithd
	install -m 0755 $(BIN)/kithctl $(BIN)/kithcat $(DESTDIR)$(BINDIR)/
	install -m 0644 $(LIB)/libkith.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB)/libkith.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libkith.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libkith.so.0
	ln -sf libkith.so.0 $(DESTDIR)$(LIBDIR)/libkith.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' libclient/kith.pc.in \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/kith.pc
	install -m 0644 libclient/include/kith.h $(DESTDIR)$(INCDIR)/kith.h
	install -m 0644 libclient/include/kith/kith.hpp $(DESTDIR)$(INCDIR)/kith/kith.hpp
	for p in $(MAN_PAGES); do \
	  s=$${p##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/; done
	sed 's|@SBINDIR@|$(SBINDIR)|g' daemon/kithd.service > $(DESTDIR)$(UNITDIR)/kithd.service
	install -m 0644 docs/kithd.toml.sample $(DESTDIR)$(DOCDIR)/kithd.toml.sample
	install -m 0644 libclient/examples/greet.c $(DESTDIR)$(DOCDIR)/greet.c
	@echo "installed under $(DESTDIR)$(PREFIX); unit: $(DESTDIR)$(UNITDIR)/kithd.service"
