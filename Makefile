SHELL := /bin/bash
# libvirt-portfwd. On a fresh Debian 12 machine, as root: `make install`, then `make test`.

PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
HOOKSDIR   ?= $(SYSCONFDIR)/libvirt/hooks
# The watch service's unit: $(PREFIX)/lib/systemd/system is on systemd's unit search path for
# both /usr/local (the default) and /usr. Completions go where each shell looks for PREFIX.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/share/zsh/vendor-completions,$(PREFIX)/share/zsh/site-functions)
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
STATEDIR    ?= /run/libvirt-portfwd

# swift on PATH, else a swift.org tarball in /opt/swift, else Debian's (13 and later ship Swift
# 6.0.3 as swiftlang: scripts/swift-toolchain installs it where no toolchain is found).
SWIFT ?= $(shell command -v swift 2>/dev/null || { [ -x /opt/swift/usr/bin/swift ] && echo /opt/swift/usr/bin/swift; } || echo /usr/bin/swift)
# The commit `--version` shows (read by Package.swift).
export LIBVIRT_PORTFWD_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
BIN    = .build/release/libvirt-portfwd
# Static Swift runtime: the hook starts five times per guest lifecycle, and loading the
# shared Swift libraries is a large share of a no-op start (bench/RESULTS.md). RELRO, as
# Debian's C toolchain links (lintian: hardening-no-relro); debian/rules builds with the same.
# The link, lld's on every toolchain (bench/RESULTS.md, "Lean, second step"): function sections
# and a symbol ordering file (link/symbol-order.txt, made by scripts/symbol-order from what the
# hook, apply and the service run) put that code first and together, so the kernel's fault-around
# makes fewer windows of .text resident; PIE kept, its relative relocations packed (DT_RELR,
# glibc >= 2.36) instead of one RELA entry each for the loader to read at every start.
# Generic types by their metadata accessors, not by mangled name: the runtime resolves a name by
# demangling it and scanning every conformance record of the static runtime for each of its
# requirements, a fifth of a small apply's instructions (callgrind; "Lean, fifth step").
# debian/rules links with the same flags.
LINK_FLAGS = -Xswiftc -use-ld=lld -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
             -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
             -Xlinker -z -Xlinker pack-relative-relocs \
             -Xlinker --symbol-ordering-file=$(CURDIR)/link/symbol-order.txt -Xlinker --no-warn-symbol-ordering
# libstdc++ linked in too: its shared library costs the loader thousands of symbol lookups at
# every start of the hook. The Swift driver names -lstdc++ itself, so the way to the archive is a
# directory searched first that holds only libstdc++.a (made by `build`; debian/rules, the same).
# libxml2's ICU still loads the shared one when a guest's XML is parsed; the two never meet.
STDCXX_DIR = $(CURDIR)/.build/static-libstdc++
LINK_FLAGS += -Xswiftc -L -Xswiftc $(STDCXX_DIR)
# No RUNPATH: SwiftPM gives executables $ORIGIN, and the loader then looks for libc, libm,
# libgcc_s and libnftables in a dozen directories beside the binary first, two dozen failed
# system calls at every start of the hook (strace), for libraries that are never there.
RELEASE_FLAGS = -c release -Xswiftc -static-stdlib -Xlinker -z -Xlinker relro --disable-local-rpath $(LINK_FLAGS)

# What the tool needs at run time and to build; what the tests add on top.
RUNTIME_PKGS = nftables libnftables1 libxml2 iptables
# Headers only: libnftables and libxml2 are loaded with dlopen, typed from these headers.
BUILD_PKGS   = libxml2-dev libnftables-dev
TEST_PKGS    = socat iproute2 procps python3 python3-prometheus-client busybox \
               libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 dnsmasq-base \
               $(LAB_ONLY_PKGS) dbus-daemon mmdebstrap lintian man-db groff-base zsh fish systemd-container \
               $(BENCH_PKGS)
# scripts/ansible-lint makes a venv for ansible-lint from PyPI.
TEST_PKGS   += python3-venv
# Daemons the libvirt lab runs only inside its namespaces (Tests/libvirt/lab.sh FIREWALLD=1).
# apt-ensure never lets a package start a service, and leaves these disabled at boot too.
LAB_ONLY_PKGS = firewalld ufw
# Roots built once by scripts/test-root: Debian releases whose libvirt the lab also runs
# (ROOT=...), bookworm-deb, a bare Debian 12 where scripts/test-deb installs the package, and
# trixie-swift, Debian 13 with its own Swift 6.0.3, which scripts/test-debian-swift builds with;
# trixie-ui, the lab's root plus ansible-core, Cockpit and Chromium (scripts/test-fleet-booted).
TEST_ROOTS   = trixie bookworm-deb trixie-swift trixie-ui
BENCH_PKGS   = hyperfine gnuplot-nox time gcc libc6-dev
# `make deb`: debian/rules (dh) and its tools.
DEB_PKGS     = dpkg-dev debhelper

.PHONY: all build toolchain deps test-deps install uninstall deb test compat demo rulesets bench fuzz chaos clean

all: build

build: toolchain
	@a=$$(gcc -print-file-name=libstdc++.a); [ -f "$$a" ] || { echo "no libstdc++.a (install libstdc++-12-dev)" >&2; exit 1; }; \
		mkdir -p $(STDCXX_DIR) && ln -sf "$$a" $(STDCXX_DIR)/libstdc++.a
	$(SWIFT) build $(RELEASE_FLAGS) --product libvirt-portfwd

toolchain:
	@scripts/swift-toolchain $(SWIFT)

# apt only when something is missing, so repeated runs stay offline and fast.
deps:
	@scripts/apt-ensure $(RUNTIME_PKGS) $(BUILD_PKGS)

test-deps: deps toolchain
	@scripts/apt-ensure --no-enable="$(LAB_ONLY_PKGS)" $(TEST_PKGS)
	@for suite in $(TEST_ROOTS); do scripts/test-root $$suite >/dev/null || exit 1; done
	@scripts/ansible-lint --install

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
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/libvirt-portfwd.service.in > $(DESTDIR)$(UNITDIR)/libvirt-portfwd.service
	$(BIN) completions bash > $(DESTDIR)$(BASHCOMPDIR)/libvirt-portfwd
	$(BIN) completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_libvirt-portfwd
	$(BIN) completions fish > $(DESTDIR)$(FISHCOMPDIR)/libvirt-portfwd.fish
	chmod 0644 $(DESTDIR)$(UNITDIR)/libvirt-portfwd.service $(DESTDIR)$(BASHCOMPDIR)/libvirt-portfwd \
		$(DESTDIR)$(ZSHCOMPDIR)/_libvirt-portfwd $(DESTDIR)$(FISHCOMPDIR)/libvirt-portfwd.fish
	$(DESTDIR)$(SBINDIR)/libvirt-portfwd install-hook --hooks-dir $(DESTDIR)$(HOOKSDIR) --binary $(SBINDIR)/libvirt-portfwd
	@# The watch service, where systemd runs; never for a DESTDIR (a staging tree, not this host).
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		echo "systemctl daemon-reload && systemctl enable --now libvirt-portfwd.service"; \
		systemctl daemon-reload && systemctl enable --now libvirt-portfwd.service; \
	fi

# The reverse, in this order: the service stopped, every rule of ours flushed while the binary
# is still there, the hook shims removed, then the files. An edited config stays. With a
# DESTDIR only files: no systemctl, no flush (that would be this host's firewall).
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		echo "systemctl disable --now libvirt-portfwd.service"; \
		systemctl disable --now libvirt-portfwd.service || true; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -x $(SBINDIR)/libvirt-portfwd ]; then \
		echo "$(SBINDIR)/libvirt-portfwd flush"; \
		$(SBINDIR)/libvirt-portfwd flush || echo "flush failed; remove the rules by hand (nft delete table inet libvirt_portfwd)"; \
	fi
	@# The shims, and the hook directories install-hook made (never ones the admin had).
	-$(DESTDIR)$(SBINDIR)/libvirt-portfwd uninstall-hook --hooks-dir $(DESTDIR)$(HOOKSDIR)
	rm -f $(DESTDIR)$(SBINDIR)/libvirt-portfwd $(DESTDIR)$(MANDIR)/man8/libvirt-portfwd.8 $(DESTDIR)$(MANDIR)/man5/libvirt-portfwd.toml.5
	rm -f $(DESTDIR)$(UNITDIR)/libvirt-portfwd.service $(DESTDIR)$(BASHCOMPDIR)/libvirt-portfwd \
		$(DESTDIR)$(ZSHCOMPDIR)/_libvirt-portfwd $(DESTDIR)$(FISHCOMPDIR)/libvirt-portfwd.fish
	@if cmp -s examples/portfwd.toml $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml; then \
		echo "rm -f $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml"; rm -f $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/libvirt/portfwd.toml: it differs from the example (remove it by hand)"; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		rm -rf $(STATEDIR); \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi

# The Debian package, ./libvirt-portfwd_VERSION_ARCH.deb, VERSION from debian/changelog: built by
# debian/rules (dh), the rules dpkg-buildpackage runs in a clean Debian 13 root
# (scripts/test-debian-source); here in the work tree, with the Swift make uses, reusing the
# release build. debian/rules says what goes in it and why; scripts/test-deb checks it.
deb: deps toolchain
	@scripts/apt-ensure $(DEB_PKGS)
	PATH="$(dir $(SWIFT)):$$PATH" SWIFT=$(SWIFT) DEB_DEST=$(CURDIR) debian/rules binary
	dh_clean && rm -f debian/libvirt-portfwd.service

# The whole suite. As root, the privileged tests (namespaces, nftables, a real libvirtd) must
# run: LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 turns a would-be skip into a failure.
test: test-deps
	$(SWIFT) build --build-tests
	@# The real-libvirtd tests append what ran where to .build/compat: labs.txt (one line per
	@# libvirtd, counted per host by test-summary) and rows.tsv (README's compatibility table).
	rm -f .build/compat/labs.txt .build/compat/rows.tsv
	LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 $(SWIFT) test --skip-build --xunit-output .build/tests.xml 2>&1 | tee .build/test.log; \
		status=$${PIPESTATUS[0]}; scripts/test-summary .build/tests-swift-testing.xml .build/compat/labs.txt; summary=$$?; \
		[ $$status -eq 0 ] && [ $$summary -eq 0 ]
	scripts/compat-table .build/compat/rows.tsv README.md
	@# Every fuzz corpus (Fuzz/Corpus) once through its libFuzzer target, with ASan.
	SWIFT=$(SWIFT) scripts/fuzz --replay
	@# Benchmark smoke check: every approach produces a result and the files are written; no timing asserted.
	SWIFT=$(SWIFT) OUT=.build/bench-smoke BIN=.build/debug/libvirt-portfwd bench/run --quick > .build/bench-smoke.log 2>&1 || { tail -20 .build/bench-smoke.log; exit 1; }
	scripts/bench-smoke-check .build/bench-smoke
	@# The Debian package: lintian, Depends, install, upgrade, remove and purge in a Debian 12 root; make install/uninstall.
	$(MAKE) --no-print-directory deb
	@# The release binary is FoundationEssentials only: no ICU, no Foundation.
	scripts/check-lean $(BIN)
	scripts/test-deb
	@# The source package as Debian's buildds build it: dpkg-buildpackage in a clean Debian 13 root with
	@# Debian's swiftlang, the network cut off; Debian 13's lintian. Cached by the source's digest.
	scripts/test-debian-source
	@# That package in a booted Debian 13 (systemd-nspawn): the service under a real systemd and journald;
	@# reinstall, upgrades from 0.2.0, purge.
	scripts/test-deb-booted
	@# The Ansible role: ansible-lint from PyPI, then Debian's ansible-core in a booted Debian 13.
	scripts/ansible-lint
	scripts/test-fleet-booted
	@# The Cockpit page: Debian's headless Chromium against Debian's cockpit-ws in a booted Debian 13.
	scripts/test-cockpit-booted
	@# Debian 13's own Swift (6.0.3): the release build, the unit tests and one apply.
	scripts/test-debian-swift

# Rewrites README's compatibility table from the last `make test` (.build/compat/rows.tsv).
compat:
	scripts/compat-table .build/compat/rows.tsv README.md --write

# Latency, data-plane and memory benchmarks in throwaway namespaces; writes bench/RESULTS.md and bench/apply.png.
bench: deps build
	@scripts/apt-ensure $(BENCH_PKGS)
	SWIFT=$(SWIFT) BIN=$(BIN) bench/run

# libFuzzer on every parser of untrusted input, FUZZ_SECONDS each (default 60); new inputs that
# add coverage are merged into Fuzz/Corpus. `make test` replays the corpora.
FUZZ_SECONDS ?= 60
fuzz:
	SWIFT=$(SWIFT) scripts/fuzz $(FUZZ_SECONDS)

# 1,000 random events against a real libvirtd with the service running (make test runs 100);
# CHAOS_SEED=N replays a run.
chaos: test-deps
	$(SWIFT) build --build-tests
	CHAOS_EVENTS=$${CHAOS_EVENTS:-1000} LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 $(SWIFT) test --skip-build --filter RootChaosTests

# A forward working end to end inside throwaway namespaces; touches nothing on the host.
demo: deps
	$(SWIFT) build --product libvirt-portfwd
	scripts/demo .build/debug/libvirt-portfwd

# Regenerates the golden rulesets from the example configs. Review the diff before committing.
rulesets:
	$(SWIFT) build --product libvirt-portfwd
	@for f in rulesets/*.toml; do \
		.build/debug/libvirt-portfwd export --all --backend nftables --config $$f --state-dir /nonexistent --libvirt-root /nonexistent > $${f%.toml}.nft || exit 1; \
		.build/debug/libvirt-portfwd export --all --backend iptables --config $$f --state-dir /nonexistent --libvirt-root /nonexistent > $${f%.toml}.iptables || exit 1; \
	done

clean:
	rm -rf .build
