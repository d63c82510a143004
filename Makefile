# pg_governance + libgovpool
#
#   make / make install / make installcheck   PGXS build, install and pg_regress of the extension
#   make check    set-up + build + install + throwaway clusters + every suite (what CI runs)
#   make demo     set-up + build + throwaway cluster + governed multi-client workload
#                 (EDITION=sql: against the SQL edition, on a server without the C extension)
#   make bench    side-by-side benchmarks, printed as ratios
#   make sql-edition  build the SQL edition's install script (path on the last line)
#   make faults   fault suite: crash, restart, terminated backends, breaker, exhaustion
#                 (make check runs its short form)
#
# The version lives in extension/pg_governance.control only; everything else reads it.

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
EXTENSION_NAME = pg_governance
EDITION ?= c
EXTVERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/$(EXTENSION_NAME).control)

# Goals that orchestrate the whole project run scripts; they must work on a
# machine where PGXS is not installed yet, so they do not include it.
ORCHESTRATION_GOALS := check demo bench fuzz faults sql-edition distclean
ifneq ($(filter $(ORCHESTRATION_GOALS),$(MAKECMDGOALS)),)

.PHONY: $(ORCHESTRATION_GOALS)
check:
	@bash scripts/check.sh
demo:
	@EDITION=$(EDITION) bash scripts/demo.sh
bench:
	@bash scripts/bench.sh
fuzz:
	@bash scripts/fuzz.sh
faults:
	@bash scripts/faults.sh
# The SQL edition (sql-edition/, docs/sql-edition.md): one script for psql -f;
# its path is the last line printed.
sql-edition:
	@python3 scripts/build-sql-edition.py
distclean:
	rm -rf build results regression.diffs regression.out log
	-$(MAKE) -C client clean
	-$(MAKE) clean

else

MODULE_big = $(EXTENSION_NAME)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/src/*.c)))
PG_CPPFLAGS = -I$(srcdir)/extension/include
PG_CFLAGS = -Wall -Wmissing-prototypes -Werror

# Installed without EXTENSION so that the control file can live in extension/.
MODULEDIR = extension
DATA = extension/$(EXTENSION_NAME).control $(sort $(wildcard extension/sql/$(EXTENSION_NAME)--*.sql))

# pg_regress inputs and expected outputs: test/regress/{sql,expected}
REGRESS = $(patsubst test/regress/sql/%.sql,%,$(sort $(wildcard test/regress/sql/*.sql)))
REGRESS_OPTS = --inputdir=$(srcdir)/test/regress --outputdir=$(CURDIR)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies unless PostgreSQL was configured with them.
$(OBJS): $(wildcard $(srcdir)/extension/include/*.h)

# local_preload_libraries (which a database owner may set) loads only from
# $libdir/plugins: a link there lets a database load the library at
# connection start, so the governance.* settings exist from a session's
# first statement (docs/settings.md).  A link, not a copy: both names are
# then one file, which PostgreSQL loads once.
install: install-plugin-link
uninstall: uninstall-plugin-link
.PHONY: install-plugin-link uninstall-plugin-link
install-plugin-link: install-lib
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)/plugins'
	ln -sfn '../$(MODULE_big)$(DLSUFFIX)' '$(DESTDIR)$(pkglibdir)/plugins/$(MODULE_big)$(DLSUFFIX)'
uninstall-plugin-link:
	rm -f '$(DESTDIR)$(pkglibdir)/plugins/$(MODULE_big)$(DLSUFFIX)'

.PHONY: client client-install client-clean print-version
ifneq ($(wildcard client/Makefile),)
all: client
install: client-install
clean: client-clean
endif
client:
	$(MAKE) -C client
client-install:
	$(MAKE) -C client install
client-clean:
	-$(MAKE) -C client clean
print-version:
	@echo $(EXTVERSION)

endif
