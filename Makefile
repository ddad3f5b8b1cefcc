SHELL := /bin/bash
# libvirt-portfwd. On a fresh Debian 12 machine, as root: `make install`, then `make test`.

PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
HOOKSDIR   ?= $(SYSCONFDIR)/libvirt/hooks

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
# The commit `--version` shows (read by Package.swift).
export LIBVIRT_PORTFWD_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
BIN    = .build/release/libvirt-portfwd
# Static Swift runtime: the hook starts five times per guest lifecycle, and loading the
# shared Swift libraries is a large share of a no-op start (bench/RESULTS.md).
RELEASE_FLAGS = -c release -Xswiftc -static-stdlib

# What the tool needs at run time and to build; what the tests add on top.
RUNTIME_PKGS = nftables libnftables1 libxml2 iptables
# Headers only: libnftables and libxml2 are loaded with dlopen, typed from these headers.
BUILD_PKGS   = libxml2-dev libnftables-dev
TEST_PKGS    = socat iproute2 procps python3 busybox \
               libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 dnsmasq-base \
               $(LAB_ONLY_PKGS) dbus-daemon mmdebstrap \
               $(BENCH_PKGS)
# Daemons the libvirt lab runs only inside its namespaces (Tests/libvirt/lab.sh FIREWALLD=1).
# apt-ensure never lets a package start a service, and leaves these disabled at boot too.
LAB_ONLY_PKGS = firewalld
# Debian releases whose libvirt the lab also runs (ROOT=...), built once by scripts/test-root.
TEST_ROOTS   = trixie
BENCH_PKGS   = hyperfine gnuplot-nox time gcc libc6-dev

.PHONY: all build deps test-deps install uninstall test demo rulesets bench clean

all: build

build:
	$(SWIFT) build $(RELEASE_FLAGS) --product libvirt-portfwd

# apt only when something is missing, so repeated runs stay offline and fast.
deps:
	@scripts/apt-ensure $(RUNTIME_PKGS) $(BUILD_PKGS)

test-deps: deps
	@scripts/apt-ensure --no-enable="$(LAB_ONLY_PKGS)" $(TEST_PKGS)
	@for suite in $(TEST_ROOTS); do scripts/test-root $$suite >/dev/null || exit 1; done

install: deps build
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/libvirt-portfwd
	install -D -m 0644 man/libvirt-portfwd.8 $(DESTDIR)$(MANDIR)/man8/libvirt-portfwd.8
	install -D -m 0644 man/libvirt-portfwd.toml.5 $(DESTDIR)$(MANDIR)/man5/libvirt-portfwd.toml.5
	@# Never overwrite an admin's config.
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml"; \
	else \
		install -D -m 0644 examples/portfwd.toml $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml; \
	fi
	$(DESTDIR)$(SBINDIR)/libvirt-portfwd install-hook --hooks-dir $(DESTDIR)$(HOOKSDIR) --binary $(SBINDIR)/libvirt-portfwd

uninstall:
	-$(DESTDIR)$(SBINDIR)/libvirt-portfwd uninstall-hook --hooks-dir $(DESTDIR)$(HOOKSDIR)
	rm -f $(DESTDIR)$(SBINDIR)/libvirt-portfwd $(DESTDIR)$(MANDIR)/man8/libvirt-portfwd.8 $(DESTDIR)$(MANDIR)/man5/libvirt-portfwd.toml.5

# The whole suite. As root, the privileged tests (namespaces, nftables, a real libvirtd) must
# run: LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 turns a would-be skip into a failure.
test: test-deps
	$(SWIFT) build --build-tests
	LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 $(SWIFT) test --skip-build --xunit-output .build/tests.xml 2>&1 | tee .build/test.log; \
		status=$${PIPESTATUS[0]}; scripts/test-summary .build/tests-swift-testing.xml; summary=$$?; \
		[ $$status -eq 0 ] && [ $$summary -eq 0 ]
	@# Benchmark smoke check: every approach produces a result and the files are written; no timing asserted.
	SWIFT=$(SWIFT) OUT=.build/bench-smoke BIN=.build/debug/libvirt-portfwd bench/run --quick > .build/bench-smoke.log 2>&1 || { tail -20 .build/bench-smoke.log; exit 1; }
	scripts/bench-smoke-check .build/bench-smoke

# Latency, data-plane and memory benchmarks in throwaway namespaces; writes bench/RESULTS.md and bench/apply.png.
bench: deps build
	@scripts/apt-ensure $(BENCH_PKGS)
	SWIFT=$(SWIFT) BIN=$(BIN) bench/run

# A forward working end to end inside throwaway namespaces; touches nothing on the host.
demo: deps
	$(SWIFT) build --product libvirt-portfwd
	scripts/demo .build/debug/libvirt-portfwd

# Regenerates the golden rulesets from the example configs. Review the diff before committing.
rulesets:
	$(SWIFT) build --product libvirt-portfwd
	@for f in rulesets/*.toml; do \
		.build/debug/libvirt-portfwd export --all --backend nftables --config $$f --state-dir /nonexistent > $${f%.toml}.nft || exit 1; \
		.build/debug/libvirt-portfwd export --all --backend iptables --config $$f --state-dir /nonexistent > $${f%.toml}.iptables || exit 1; \
	done

clean:
	rm -rf .build
