# berth: build, test and demo entry points. Run as root on Debian 12 (see docs/testing.md).
#
#   make demo    build berth and run a busybox container (hostname, PID 1, mounts)
#   make test    deps + probe + fmt-check + clippy + VM tier + runtime-tools conformance +
#                fuzz smoke + containerd tier + package tier + unit and integration tests
#   make conformance  the runtime-tools validation suite on the host and in the VM tier
#   make soak    1,000 create/start/kill/delete cycles and 1,000 runs, leak census
#   make fuzz    each cargo-fuzz target for FUZZ_SECONDS (default 600)
#   make install / uninstall   PREFIX (default /usr/local), DESTDIR; make deb: the Debian
#                package; make test-package checks both (docs/install.md)
#
# Variables: CARGO, DEMO_RUNTIME (default: the berth release binary; `make demo
# DEMO_RUNTIME=runc` for a side-by-side look), CLIPPY_FLAGS (e.g. "-D warnings").

SHELL        := /bin/bash
CARGO        ?= cargo
TARGET       := x86_64-unknown-linux-gnu
PROBE        := $(CURDIR)/target/probe/$(TARGET)/release/berth-probe
# The release binaries are static (glibc crt-static: no dynamic loader, no libc.so pages);
# crt-static needs --target, which keeps build scripts and proc macros dynamic. The link
# arguments (DT_RELR, symbol ordering, strip, the link map for order-check) are in
# build/link_args.rs. CARGO_TARGET_DIR is honoured (integration/bench/order-file.sh sets it).
RELEASE_DIR  := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/$(TARGET)/release
BERTH        := $(RELEASE_DIR)/berth
SHIM         := $(RELEASE_DIR)/containerd-shim-berth-v2
RELEASE_BUILD = RUSTFLAGS="-C target-feature=+crt-static" BERTH_LINK_MAP_DIR=$(RELEASE_DIR) \
		$(CARGO) build --release \
		--target $(TARGET) -p berth -p containerd-shim-berth-v2
DEMO_DIR     := $(CURDIR)/integration/.work/demo
DEMO_RUNTIME ?= $(BERTH)
CLIPPY_FLAGS ?=
# Debian packages the tests need: busybox-static for bundles; util-linux (unshare) and
# iproute2 are in the base system; runc for side-by-side runs (make test-runc); strace as
# the fault injector of tests/recovery.rs (a kill at each syscall of start); uidmap
# (newuidmap/newgidmap) for the subordinate ids of tests/rootless.rs; jq for
# integration/mkbundle.sh (berth spec's config, edited).
DEB_PKGS     := busybox-static runc util-linux strace uidmap jq
# Installed without their Recommends: podman for tests/rootless.rs (rootless podman with berth
# as its runtime; vfs storage and no network, so buildah, slirp4netns, fuse-overlayfs and
# dbus-user-session are not needed).
DEB_PKGS_BARE := podman

.PHONY: all build probe deps test unit integration test-runc demo fmt-check clippy clean-demo

all: build

build:
	$(RELEASE_BUILD)

# A static glibc binary (no musl target installed): it runs in an empty busybox rootfs.
probe:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build -p berth-probe --release \
		--target $(TARGET) --target-dir target/probe

# apt-get only when something is missing, so repeated runs stay fast and offline.
deps:
	@missing=""; bare=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$p"; \
	done; \
	for p in $(DEB_PKGS_BARE); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
			|| bare="$$bare $$p"; \
	done; \
	if [ -n "$$missing$$bare" ]; then \
		echo "deps: installing$$missing$$bare"; \
		apt-get update || exit 1; \
		if [ -n "$$missing" ]; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing || exit 1; fi; \
		if [ -n "$$bare" ]; then DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends $$bare || exit 1; fi; \
	else \
		echo "deps: all installed ($(DEB_PKGS) $(DEB_PKGS_BARE))"; \
	fi

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- $(CLIPPY_FLAGS)

# Unit tests (no root) and integration tests (root; they skip loudly otherwise). The failpoints
# feature compiles crash injection into the test build of berth (tests/crash.rs); the soak runs
# with its small count here (BERTH_SOAK_COUNT, default 50); fuzz-smoke: see below.
# The differential tier runs once, as test-diff (against the release binary), so the workspace
# run skips it.
# Every skip line is collected from the output and summarised at the end (integration/skips.sh).
TEST_LOG     := $(CURDIR)/target/test-workspace.log
test: deps probe fmt-check clippy build test-vm test-systemd conformance fuzz-smoke test-diff
	@mkdir -p $(dir $(TEST_LOG))
	set -o pipefail; status=0; BERTH_PROBE=$(PROBE) $(CARGO) test --workspace --no-fail-fast --features failpoints \
		-- --skip differential_against_runc 2>&1 | tee $(TEST_LOG) || status=$$?; \
	integration/skips.sh $(TEST_LOG); exit $$status

unit:
	$(CARGO) test --workspace --lib --bins

integration: deps probe
	BERTH_PROBE=$(PROBE) $(CARGO) test -p berth --tests --no-fail-fast

# The same integration tests against runc 1.1.5 (the reference implementation).
test-runc: deps probe
	BERTH_PROBE=$(PROBE) BERTH_TEST_RUNTIME=runc $(CARGO) test -p berth --tests --no-fail-fast

# The differential tier (tests/differential.rs, docs/testing.md): the same corpus under runc 1.1.5
# and the release berth, every observable difference either fixed or in
# tests/differential/allowed.txt with its reason. BERTH_DIFF_ONLY=<substring> runs some cases.
.PHONY: test-diff
test-diff: deps probe build
	BERTH_PROBE=$(PROBE) BERTH_DIFF_BERTH=$(BERTH) $(CARGO) test -p berth --test differential \
		-- --nocapture

demo: deps build
	rm -rf $(DEMO_DIR)
	BERTH=$(BERTH) integration/mkbundle.sh $(DEMO_DIR) sh -c \
		'echo "hostname: $$(hostname)"; echo "PID 1: $$$$"; echo "mounts:"; cat /proc/self/mounts'
	$(DEMO_RUNTIME) --root $(DEMO_DIR)/state run --bundle $(DEMO_DIR) berth-demo-$$$$
	rm -rf $(DEMO_DIR)

clean-demo:
	rm -rf $(DEMO_DIR)

# The VM tier: the cgroup suite on a pure cgroup v2 kernel under qemu (TCG); see
# integration/vm/run.sh and docs/cgroups.md. Installs qemu, a Debian kernel and busybox itself.
.PHONY: test-vm
test-vm: build
	BERTH=$(BERTH) integration/vm/run.sh

# The systemd VM tier: systemd as PID 1 on pure cgroup v2 (a Debian 12 image that
# integration/vm-systemd/build-rootfs.sh builds with mmdebstrap and caches under
# /var/cache/berth/vm-systemd), running the suites in integration/vm-systemd/suites (the
# systemd cgroup driver's, and the CRI scenario with kubelet's pod slices); see docs/testing.md
# (the VM about 2-4 min, plus about 70 s once to build the image on a fresh machine).
.PHONY: test-systemd
# The CRI suite (suites/cri.sh) gets the shim, a static CRI client and a busybox image tarball
# whose command sleeps (sandbox and containers alike) in /vm/bin.
VM_CRI_TEST  := $(CURDIR)/integration/containerd/cri-client/target/$(TARGET)/release/berth-cri-test
VM_CRI_IMAGE := $(CURDIR)/integration/.work/vm-systemd-image/berth-pause-vm.tar
test-systemd: build probe containerd-deps cri-client-static
	mkdir -p $(dir $(VM_CRI_IMAGE))
	integration/containerd/mkimage.sh $(VM_CRI_IMAGE) docker.io/library/berth-pause:vm sleep 2147483647
	BERTH=$(BERTH) BERTH_PROBE=$(PROBE) \
		VM_EXTRA_BINS="$(SHIM) $(VM_CRI_TEST) $(VM_CRI_IMAGE) $(VM_EXTRA_BINS)" \
		integration/vm-systemd/run.sh

# The CRI client linked statically (glibc crt-static, as the probe), for the systemd VM, whose
# image has no Rust toolchain.
.PHONY: cri-client-static
cri-client-static:
	cd integration/containerd/cri-client && RUSTFLAGS="-C target-feature=+crt-static" \
		$(CARGO) build --release --target $(TARGET)

# The opencontainers/runtime-tools validation suite (docs/conformance.md): builds it once into
# /var/cache/berth/runtime-tools-<commit>/ (Go 1.22 from bookworm-backports when missing), runs
# all tests on the host and the cgroup tests in the VM tier, and compares with
# integration/conformance/runtime-tools-expected.txt. RUNTIME_TOOLS_SRC: another checkout.
.PHONY: conformance
conformance: build
	RUNTIME=$(BERTH) integration/conformance/runtime-tools.sh

# ---- containerd: the shim with real containerd (Debian 1.6.20), ctr and CRI (docs/containerd.md)
CRI_TEST     := $(CURDIR)/integration/containerd/cri-client/target/release/berth-cri-test
CTRD_PKGS    := containerd containernetworking-plugins protobuf-compiler busybox-static
.PHONY: test-containerd containerd-deps
test: test-containerd

containerd-deps:
	@missing=""; for p in $(CTRD_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then echo "containerd-deps: installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi

test-containerd: containerd-deps build cri-client
	integration/containerd/run-tests.sh $(SHIM) $(BERTH) $(CRI_TEST)

# The CRI client (berth-cri-test): the containerd tier's scenarios and the bench's CRI part.
.PHONY: cri-client
cri-client:
	cd integration/containerd/cri-client && $(CARGO) build --release

# berth side by side with runc and crun, interleaved (integration/bench/run.sh,
# docs/benchmarks.md). Installs runc, crun, hyperfine and time when missing. Needs root.
.PHONY: bench
# The containerd part (ctr and CRI) runs when containerd is installed (make containerd-deps) and
# the shim builds; its CRI rows need the CRI client (make cri-client).
bench: build probe
	BERTH_SHIM=$(SHIM) BERTH_CRI_CLIENT=$(CRI_TEST) integration/bench/run.sh $(BERTH) $(PROBE)

# The benchmark itself must keep working (it broke unnoticed once, when `berth spec` stopped
# carrying a seccomp profile): every case for two rounds (about a minute). It checks that
# every row of the table is there, not the numbers (performance is never asserted in tests).
# The containerd part runs shortened: 2 ctr rounds, 2 CRI rounds, 5 pods per handler.
.PHONY: bench-smoke
test: bench-smoke
bench-smoke: build probe containerd-deps cri-client
	@mkdir -p $(CURDIR)/integration/.work
	BENCH_ROUNDS=2 BENCH_PARALLEL=4 BENCH_SYSCALLS=20000 BENCH_WORK=$(CURDIR)/integration/.work/bench-smoke \
		BENCH_CTR_ROUNDS=2 BENCH_CRI_ROUNDS=2 BENCH_CRI_PODS=5 BERTH_SHIM=$(SHIM) BERTH_CRI_CLIENT=$(CRI_TEST) \
		integration/bench/run.sh $(BERTH) $(PROBE) | tee $(CURDIR)/integration/.work/bench-smoke.txt; \
		test $${PIPESTATUS[0]} -eq 0
	@for row in '`run` /bin/true' 'floor: `unshare -fmpiun`' 'berth `run` / floor' \
		'plain `berth spec` bundle' '`create`' '`start`' '`delete`' '`total`' 'in parallel' \
		'max RSS' 'getppid() in the container, seccomp' 'personality(0xffffffff) in the container, seccomp' \
		'`ctr run --rm` hello' 'idle shim RSS' 'CRI pod start' 'CRI pod teardown' \
		'shim memory per pod (sum of Pss)' 'containerd VmRSS growth per pod' 'node memory per pod'; do \
		grep '^| ' $(CURDIR)/integration/.work/bench-smoke.txt | grep -qF "$$row" || \
		{ echo "bench-smoke: no row '$$row' in the table"; exit 1; }; \
	done; echo "bench-smoke: every row of the table is there"

# The symbol-ordering files must match the binary they order (integration/bench/order-check.py):
# the fraction of each file's symbols that the release link placed (its -Map, written by
# `make build`) is printed, and below ORDER_MIN the check fails. No second build: it reads the map.
ORDER_MIN ?= 0.90
.PHONY: order-check
test: order-check
order-check: build
	integration/bench/order-check.py $(ORDER_MIN) berth=$(RELEASE_DIR)/berth.map \
		containerd-shim-berth-v2=$(RELEASE_DIR)/containerd-shim-berth-v2.map

# Regenerate build/berth.order and build/containerd-shim-berth-v2.order (the linker's
# symbol-ordering files) from callgrind runs of a container lifecycle; commit the result.
.PHONY: order-files
order-files: deps probe containerd-deps
	integration/bench/order-file.sh

# Soak (tests/soak.rs): SOAK_COUNT lifecycles and runs with a leak census before and after.
SOAK_COUNT ?= 1000
.PHONY: soak
soak: deps probe
	BERTH_PROBE=$(PROBE) BERTH_SOAK_COUNT=$(SOAK_COUNT) $(CARGO) test -p berth --features failpoints \
		--test soak -- --nocapture

# Fuzzing (fuzz/, its own workspace): cargo-fuzz + libFuzzer on the stable toolchain, which needs
# RUSTC_BOOTSTRAP=1 for -Zsanitizer (docs/testing.md "Fuzzing"). Every run first executes the
# seeds and every saved crash (fuzz/regressions); fuzz-regressions replays them without
# libFuzzer (a second, debug build, so make test does not use it).
FUZZ_TARGETS       := config_plan seccomp_bpf mount_options state_file
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_ENV           := RUSTC_BOOTSTRAP=1
.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps fuzz-regressions
fuzz-deps:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

fuzz-build: fuzz-deps
	cd fuzz && $(FUZZ_ENV) $(CARGO) fuzz build -O

fuzz-regressions:
	cd fuzz && $(CARGO) test --lib --tests

fuzz: fuzz-build
	integration/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	integration/fuzz.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# ---- Install and package (docs/install.md) ----------------------------------------------------
# `make install` (PREFIX, DESTDIR as usual), `make uninstall` (from the same source tree: it
# removes the files this tree's install puts), `make deb` (dpkg-deb, from a staged
# `make install DESTDIR=... PREFIX=/usr`). bin, not sbin: containerd looks the shim up by
# name on its PATH, then next to its own binary (/usr/bin/containerd in Debian, where
# containerd-shim-runc-v2 is too); docs/install.md.
# Man pages and completion scripts are generated by the release berth from its own clap
# definitions (`berth generate-man DIR`, `berth completion SHELL`) into target/gen/.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR       = $(PREFIX)/bin
MAN8DIR      = $(PREFIX)/share/man/man8
BASHCOMPDIR  = $(PREFIX)/share/bash-completion/completions
# zsh searches $prefix/share/zsh/site-functions of its own prefix, and Debian's zsh also
# /usr/share/zsh/vendor-completions, the directory for packages (docs/install.md).
ZSHCOMPDIR   = $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHCOMPDIR  = $(PREFIX)/share/fish/vendor_completions.d
DOCDIR       = $(PREFIX)/share/doc/berth
GEN_DIR     := $(CURDIR)/target/gen
DOCS        := README.md $(wildcard docs/*.md)
DOC_EXAMPLES := packaging/containerd-berth.toml packaging/runtimeclass.yaml
# The package: version from Cargo.toml (the workspace's), architecture as dpkg names it.
DEB_VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n1)
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null)
DEB_MAINTAINER ?= berth maintainers <berth@example.invalid>
DEB         := $(CURDIR)/target/deb/berth_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_STAGE   := $(CURDIR)/target/deb/stage
# man -l in the package test (man-db brings col, which the test also uses); dpkg-deb, gzip
# and bash are essential.
PKG_PKGS    := man-db
.PHONY: man completions install uninstall deb package-deps test-package

man: build
	rm -rf $(GEN_DIR)/man
	$(BERTH) generate-man $(GEN_DIR)/man

completions: build
	mkdir -p $(GEN_DIR)/completions
	$(BERTH) completion bash > $(GEN_DIR)/completions/berth
	$(BERTH) completion zsh > $(GEN_DIR)/completions/_berth
	$(BERTH) completion fish > $(GEN_DIR)/completions/berth.fish

install: build man completions
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(DOCDIR)/docs
	install -m 0755 $(BERTH) $(SHIM) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(GEN_DIR)/man/*.8 $(DESTDIR)$(MAN8DIR)/
	install -m 0644 $(GEN_DIR)/completions/berth $(DESTDIR)$(BASHCOMPDIR)/berth
	install -m 0644 $(GEN_DIR)/completions/_berth $(DESTDIR)$(ZSHCOMPDIR)/_berth
	install -m 0644 $(GEN_DIR)/completions/berth.fish $(DESTDIR)$(FISHCOMPDIR)/berth.fish
	install -m 0644 README.md $(DOC_EXAMPLES) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(filter docs/%,$(DOCS)) $(DESTDIR)$(DOCDIR)/docs/

# The directories install creates are shared (bin, man8, ...) but for berth's doc directory,
# which goes once it is empty.
uninstall: man
	rm -f $(DESTDIR)$(BINDIR)/berth $(DESTDIR)$(BINDIR)/containerd-shim-berth-v2
	for page in $(GEN_DIR)/man/*.8; do rm -f "$(DESTDIR)$(MAN8DIR)/$${page##*/}"; done
	rm -f $(DESTDIR)$(BASHCOMPDIR)/berth $(DESTDIR)$(ZSHCOMPDIR)/_berth \
		$(DESTDIR)$(FISHCOMPDIR)/berth.fish
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOCS) $(notdir $(DOC_EXAMPLES)))
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)

deb: build
	rm -rf $(DEB_STAGE) $(DEB)
	$(MAKE) --no-print-directory install DESTDIR=$(DEB_STAGE) PREFIX=/usr
	packaging/deb/build-deb.sh $(DEB_STAGE) $(DEB) $(DEB_VERSION) $(DEB_ARCH) "$(DEB_MAINTAINER)"

package-deps:
	@missing=""; for p in $(PKG_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then echo "package-deps: installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi

# The package tier (integration/package/run-tests.sh): make install/uninstall into a temporary
# DESTDIR, then the .deb installed into, checked in and removed from a throwaway dpkg root;
# containerd (containerd-deps) checks what the drop-in changes in its merged config.
test: test-package
test-package: package-deps containerd-deps deb
	integration/package/run-tests.sh $(DEB) $(DEB_VERSION)
