# man/build.mk — the manual pages, by section, and a formatting check.
#
# `make install` (mk/main.mk) installs $(MAN1) into $(PREFIX)/share/man/man1,
# and so on for each section; MAN_PAGES is all of them.
#
#   make -f mk/main.mk man-check
#
# formats every page that exists with groff's man macros for a terminal
# (-Tutf8, 78 columns) with all warnings on (-ww), and fails if groff prints
# anything at all: an undefined macro, a bad escape, a line that cannot be
# broken, an unknown font. Pages listed here but not written yet are named and
# skipped. `man -l man/kithd.8` shows a page as it will look installed.

MAN1 := man/kithcat.1
MAN3 := man/libkith.3
MAN5 := man/kithd.toml.5 man/kith-policy.5
MAN7 := man/kith-socket-api.7
MAN8 := man/kithd.8 man/kithctl.8
MAN_PAGES := $(MAN1) $(MAN3) $(MAN5) $(MAN7) $(MAN8)

# -k runs preconv, so UTF-8 in a page (µs, —) is read as such.
MAN_GROFF := groff -k -Kutf-8 -Tutf8 -man -ww -z -rLL=78n

.PHONY: man-check
man-check:
	@command -v groff >/dev/null || { echo "man-check: groff is missing (apt-get install groff-base)"; exit 1; }
	@fail=0; \
	for p in $(MAN_PAGES); do \
	  if [ ! -f "$$p" ]; then echo "  MAN $$p (not written yet; skipped)"; continue; fi; \
	  out=$$(LC_ALL=C.UTF-8 $(MAN_GROFF) "$$p" 2>&1); \
	  if [ -n "$$out" ]; then echo "  MAN $$p FAILED"; echo "$$out" | sed 's/^/    /'; fail=1; \
	  else echo "  MAN $$p"; fi; \
	done; \
	exit $$fail
