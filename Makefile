# cstorfs - one readable Makefile.
#
#   make              the library, cstorfsd, cstorfs-ctl, cstorfs (mount)
#   make test         dependencies, build, unit tests (plain and ASan+UBSan side by side,
#                     with 20 s of fuzzing), integration tests (pytest, real FUSE mounts)
#   make check-asan   only the unit tests under AddressSanitizer + UBSan
#   make run          set up a store in ./store-demo and mount volume "demo" at ./mnt
#   make clean        remove build/
#   V=1               show the commands
#
# Layout of sources (wildcards, so adding a file needs no edit here):
#   store/*.c         libcstore.a    the store library (no FUSE, no HTTP)
#   ctl/*.c           libcsclient.a  the control API client, except main_*.c, ctl_*.c
#   ctl/main_ctl.c    cstorfs-ctl, with ctl/ctl_*.c (its command table's machinery and
#                     handlers);     ctl/main_mount.c  cstorfs (mount command)
#   fs/*.c fs/api/*.c cstorfsd      FUSE sessions; the control API (fs/cs_api.c, its routes)
#   tests/unit/test_*.c  one cmocka program each, linked with libcstore.a

CC      ?= cc
B       := build
PKGS_STORE  := rocksdb libzstd libcrypto
PKGS_FS     := fuse3 libmicrohttpd libcjson
PKGS_CLIENT := libcurl libcjson
CPPFLAGS += -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Istore -Ictl -Ifs
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -pthread -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

pc = $(shell pkg-config --$(1) $(2) 2>/dev/null)
# Debian's rocksdb.pc lists no libs for static deps; name them here.
LIBS_STORE  := $(call pc,libs,rocksdb libzstd libcrypto) -lrocksdb -lzstd -lcrypto -lpthread
LIBS_FS     := $(call pc,libs,fuse3 libmicrohttpd libcjson)
LIBS_CLIENT := $(call pc,libs,libcurl libcjson)
# librados (issue 15; Debian has no .pc for it): only what calls the RADOS chunk store
# (store/cs_rados*.c) links it; the static library leaves those objects out of the rest.
LIBS_RADOS  := -lrados
LIBS_STORE  += $(LIBS_RADOS)
CPPFLAGS    += $(call pc,cflags,fuse3 libmicrohttpd libcjson libcurl)

ifeq ($(V),1)
Q :=
else
Q := @
endif

STORE_SRC  := $(wildcard store/*.c)
CLIENT_SRC := $(filter-out ctl/main_%.c ctl/ctl_%.c,$(wildcard ctl/*.c))
CTL_SRC    := $(wildcard ctl/ctl_*.c)
FS_SRC     := $(wildcard fs/*.c fs/api/*.c)
DOCKER_SRC := $(wildcard plugin-shims/docker/*.c)
FLEX_SRC   := $(wildcard plugin-shims/flexvolume/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_HELP  := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))

obj = $(patsubst %.c,$(1)/obj/%.o,$(2))

PROGS := $(B)/cstorfsd $(B)/cstorfs-ctl $(B)/cstorfs
ifneq ($(DOCKER_SRC),)
PROGS += $(B)/cstorfs-docker-plugin
endif
ifneq ($(FLEX_SRC),)
PROGS += $(B)/cstorfs-flexvolume
endif
UNIT  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
UNIT_ASAN := $(patsubst tests/unit/%.c,$(B)/asan/tests/%,$(UNIT_SRC))

.PHONY: check-layout
# The house rules (issue 16): file and function sizes, the store's layers (scripts/check-layout.py).
check-layout: all
	scripts/check-layout.py $(B)

.PHONY: all test unit check-asan integration run clean deps bench bench-store bench-snapshots fmt fuzz
all: $(B)/libcstore.a $(PROGS)

deps:
	@scripts/deps.sh test

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(B)/libcstore.a: $(call obj,$(B),$(STORE_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/libcsclient.a: $(call obj,$(B),$(CLIENT_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/asan/libcstore.a: $(call obj,$(B)/asan,$(STORE_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/cstorfsd: $(call obj,$(B),$(FS_SRC) ctl/cs_mountinfo.c) $(B)/libcstore.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_FS) $(LIBS_STORE)
$(B)/cstorfs-ctl: $(call obj,$(B),ctl/main_ctl.c $(CTL_SRC)) $(B)/libcsclient.a $(B)/libcstore.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_CLIENT) $(LIBS_STORE)
$(B)/cstorfs: $(B)/obj/ctl/main_mount.o $(B)/libcsclient.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_CLIENT)

$(B)/cstorfs-docker-plugin: $(call obj,$(B),$(DOCKER_SRC)) $(B)/libcsclient.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_FS) $(LIBS_CLIENT)
$(B)/cstorfs-flexvolume: $(call obj,$(B),$(FLEX_SRC)) $(B)/libcsclient.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_CLIENT)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(call obj,$(B),$(UNIT_HELP)) $(B)/libcstore.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LIBS_STORE)
$(B)/asan/tests/%: $(B)/asan/obj/tests/unit/%.o $(call obj,$(B)/asan,$(UNIT_HELP)) $(B)/asan/libcstore.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD-SAN  $@")
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcmocka $(LIBS_STORE)
$(B)/tests/test_rados $(B)/asan/tests/test_rados: LIBS_STORE += $(LIBS_RADOS)

# Fuzzing (libFuzzer, clang): the stream parser.
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined -DCS_FUZZING
FUZZ_SECONDS ?= 20
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -pthread $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(B)/fuzz_stream: LIBS_STORE += $(LIBS_RADOS)
$(B)/fuzz_stream: $(call obj,$(B)/fuzz,tests/fuzz/fuzz_stream.c $(STORE_SRC))
	@$(if $(Q),echo "  LD-FUZZ $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS_STORE)

# New inputs go to build/fuzz-corpus; the committed seeds stay as they are.
fuzz: $(B)/fuzz_stream
	@mkdir -p $(B)/fuzz-corpus
	$(B)/fuzz_stream -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(B)/fuzz-corpus tests/fuzz/corpus

# The crash loop (tests/crash, issue 12): crash_worker is its workload, cs_damage breaks a
# stopped store for the tests of `cstorfs-ctl check`; both built by `all`. The loop runs a
# minute in make test (tests/integration/test_crash.py) and CRASH_SOAK_MINUTES in crash-soak.
$(B)/crash_worker: $(B)/obj/tests/crash/crash_worker.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^
$(B)/cs_damage: $(B)/obj/tests/crash/cs_damage.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_STORE)
all: $(B)/crash_worker $(B)/cs_damage

CRASH_SOAK_MINUTES ?= 30
.PHONY: crash-soak
crash-soak: all
	BUILD=$(B) scripts/crash-loop.sh $(CRASH_SOAK_MINUTES)

# Each unit program runs in its own temporary directory (CS_TEST_TMP).
define run_units
	@set -e; for t in $(1); do \
		echo "== $$t"; \
		$(2) $$t; \
	done
endef

unit: $(UNIT)
	$(call run_units,$(UNIT),)

check-asan: $(UNIT_ASAN)
	$(call run_units,$(UNIT_ASAN),ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

integration: all
	/usr/bin/python3 -m pytest -q tests/integration

# Everything is built first, JOBS at a time (one make each: the C++ of the CSI shim and
# the three builds of the store, plain, ASan and libFuzzer, would otherwise go one file at a
# time). The plain unit tests, the ASan ones and the fuzzer then run side by side, each
# program in its own temporary directory; -Otarget prints each one's output whole.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(MAKE) -j$(JOBS) all $(UNIT) $(UNIT_ASAN) $(B)/fuzz_stream
	$(MAKE) check-layout
	$(MAKE) -j3 -Otarget unit check-asan fuzz
	$(MAKE) integration

# make run builds what the demo runs: the daemon, cstorfs-ctl and the mount command take
# seconds; all (the CSI shim's generated C++ above all) a minute or two more. make builds the rest.
run:
	@scripts/deps.sh build
	$(MAKE) -j$(JOBS) $(B)/cstorfsd $(B)/cstorfs-ctl $(B)/cstorfs
	scripts/run-demo.sh

fmt:
	clang-format -i store/*.[ch] fs/*.[ch] fs/api/*.[ch] ctl/*.[ch] tests/unit/*.[ch]

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# cs_fsx, the random-operation model checker (tests/fsx): built by `all`, run for about a
# minute by tests/integration/test_fsx.py, and for SOAK_MINUTES by `make soak` (never part
# of make test), which keeps the log of a failing run.
FSX_SRC := $(wildcard tests/fsx/*.c)
$(B)/cs_fsx: $(call obj,$(B),$(FSX_SRC))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^
all: $(B)/cs_fsx

# make soak runs the model checker (scripts/soak.sh) and the crash loop (scripts/crash-loop.sh)
# side by side for SOAK_MINUTES each; their output goes to $(B)/soak-fsx.log and
# $(B)/soak-crash.log, their last lines to the terminal; it fails when either fails.
SOAK_MINUTES ?= 30
.PHONY: soak soak-fsx
soak-fsx: all
	SOAK_MINUTES=$(SOAK_MINUTES) BUILD=$(B) scripts/soak.sh
soak: all
	@echo "soak: model checker and crash loop, $(SOAK_MINUTES) min each, side by side"
	@SOAK_MINUTES=$(SOAK_MINUTES) BUILD=$(B) scripts/soak.sh >$(B)/soak-fsx.log 2>&1 & f=$$!; \
	BUILD=$(B) scripts/crash-loop.sh $(SOAK_MINUTES) >$(B)/soak-crash.log 2>&1; c=$$?; \
	wait $$f; x=$$?; \
	tail -n 3 $(B)/soak-fsx.log; tail -n 3 $(B)/soak-crash.log; \
	echo "soak: model checker exit $$x, crash loop exit $$c"; [ $$x = 0 ] && [ $$c = 0 ]

# Benchmarks (never part of make test).
$(B)/store_bench: $(B)/obj/benchmarks/store_bench.o $(B)/libcstore.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_STORE)

bench-store: $(B)/store_bench
	$(B)/store_bench

# Snapshots, clones and streams beside btrfs on a loop device (issues 4, 5):
# writes benchmarks/RESULTS-snapshots.md.
bench-snapshots: all
	@scripts/deps.sh bench
	benchmarks/snapbench.sh

# The FUSE benchmark harness (issue 7; never part of make test): cstorfs beside the native
# filesystem and libfuse's passthrough_ll, same run, same disk -> benchmarks/RESULTS.md.
# BENCH_QUICK=1 for a smoke run; see benchmarks/run.sh for the other knobs.
$(B)/bench/metabench: benchmarks/metabench.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -O2 -Wall -Wextra -o $@ $<

bench:
	@scripts/deps.sh bench
	$(MAKE) all $(B)/bench/metabench
	@benchmarks/build-passthrough.sh $(B)/bench
	benchmarks/run.sh

# The Kubernetes FlexVolume driver (issue 8), installed atomically (copied to a dot-name, then
# renamed: kubelet ignores dot-files and re-runs `init` on any change in its plugin directory)
# as $(VOLUME_PLUGIN_DIR)/cstorfs~cstorfs/cstorfs; VOLUME_PLUGIN_DIR=... for kubelets started
# with --volume-plugin-dir. cstorfsd and cstorfs-ctl go to $(PREFIX)/bin, on kubelet's PATH, so
# the driver can start the daemon. See plugin-shims/flexvolume/README.md.
VOLUME_PLUGIN_DIR ?= /usr/libexec/kubernetes/kubelet-plugins/volume/exec
PREFIX ?= /usr/local
FLEX_DIR = $(DESTDIR)$(VOLUME_PLUGIN_DIR)/cstorfs~cstorfs
# $(call install_atomic,SOURCE,DIR,NAME)
install_atomic = install -m 0755 $(1) '$(2)/.$(3)' && mv -f '$(2)/.$(3)' '$(2)/$(3)'

# Every program, each installed atomically, into $(PREFIX)/bin.
.PHONY: install
install: all
	install -d '$(DESTDIR)$(PREFIX)/bin'
	for p in cstorfs cstorfsd cstorfs-ctl cstorfs-docker-plugin; do \
		d="$(DESTDIR)$(PREFIX)/bin"; \
		install -m 0755 $(B)/$$p "$$d/.$$p" && mv -f "$$d/.$$p" "$$d/$$p" || exit 1; \
	done

.PHONY: install-flexvolume
install-flexvolume: $(B)/cstorfs-flexvolume $(B)/cstorfsd $(B)/cstorfs-ctl
	install -d '$(DESTDIR)$(PREFIX)/bin' '$(FLEX_DIR)'
	$(call install_atomic,$(B)/cstorfsd,$(DESTDIR)$(PREFIX)/bin,cstorfsd)
	$(call install_atomic,$(B)/cstorfs-ctl,$(DESTDIR)$(PREFIX)/bin,cstorfs-ctl)
	$(call install_atomic,$(B)/cstorfs-flexvolume,$(FLEX_DIR),cstorfs)

# The CSI plugin (issue 17, plugin-shims/csi): C++ over the same client library (libcsclient.a),
# with cstorfs-ctl's JSON field readers (ctl/ctl_fmt.c).
# csi.proto is compiled by protoc into $(B)/gen/csi, never committed. See plugin-shims/csi/README.md.
CSI_SRC := $(wildcard plugin-shims/csi/*.cc)
ifneq ($(CSI_SRC),)
CSI_GEN      := $(B)/gen/csi
CSI_VERSION  := $(shell sed -n 's/^\#define CS_VERSION "\(.*\)"/\1/p' fs/cs_api.h)
CSI_CPPFLAGS := -D_GNU_SOURCE -Ictl -I$(CSI_GEN) -DCSI_VERSION='"$(CSI_VERSION)"' \
		$(call pc,cflags,grpc++ protobuf libcjson)
CSI_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -pthread -MMD -MP
CSI_OBJ      := $(patsubst %.cc,$(B)/obj/%.o,$(CSI_SRC)) $(CSI_GEN)/csi.pb.o $(CSI_GEN)/csi.grpc.pb.o \
		$(B)/obj/ctl/ctl_fmt.o

$(CSI_GEN)/stamp: plugin-shims/csi/csi.proto
	@mkdir -p $(CSI_GEN)
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc -Iplugin-shims/csi --cpp_out=$(CSI_GEN) --grpc_out=$(CSI_GEN) \
		--plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) $<
	@touch $@
$(CSI_GEN)/csi.pb.o $(CSI_GEN)/csi.grpc.pb.o: $(CSI_GEN)/%.o: $(CSI_GEN)/stamp
	@$(if $(Q),echo "  CXX     $(CSI_GEN)/$*.cc")
	$(Q)$(CXX) $(CSI_CPPFLAGS) $(CSI_CXXFLAGS) -c -o $@ $(CSI_GEN)/$*.cc
$(B)/obj/plugin-shims/csi/%.o: plugin-shims/csi/%.cc $(CSI_GEN)/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) $(CSI_CPPFLAGS) $(CSI_CXXFLAGS) -c -o $@ $<
$(B)/cstorfs-csi: $(CSI_OBJ) $(B)/libcsclient.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CXX) $(CSI_CXXFLAGS) -o $@ $^ $(call pc,libs,grpc++ protobuf) $(LIBS_CLIENT)
all: $(B)/cstorfs-csi
endif
