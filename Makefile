# netc: make builds build/netc; make test runs every test; make check runs
# them again under AddressSanitizer and UndefinedBehaviorSanitizer.

BUILD ?= build
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Wpedantic -Wshadow
ifeq ($(CI),true)
  WARN += -Werror
endif
ifeq ($(SAN),1)
  CFLAGS += -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif
CPPFLAGS += -Isrc -I$(BUILD) -I$(BUILD)/gen -MMD -MP -D_POSIX_C_SOURCE=200809L
LDLIBS += -lm

# Flex and bison output is not ours to fix: fewer warnings there.
GEN_WARN := -std=c11 -Wall -Wno-unused-function -Wno-sign-compare -Wno-unused-but-set-variable

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/%.o) $(BUILD)/parser.o $(BUILD)/lexer.o $(BUILD)/templates.o
TEMPLATES := $(sort $(wildcard templates/*.c templates/*.h templates/*.mk))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
EXAMPLES := $(wildcard examples/*.net)
# Models compiled by netc at build time and linked into test_models.
TEST_MODELS := $(patsubst tests/models/%.net,$(BUILD)/gen/%.o,$(wildcard tests/models/*.net))

.PHONY: all test check clean update-golden deps generated demo valgrind bench
all: $(BUILD)/netc

# ---- tools: a fresh Debian machine needs nothing but make ----

# The compiler needs flex and bison; the tests need cmocka, and OpenBLAS
# for the tests of --blas. Each list is installed when it is first needed.
# OpenBLAS itself, not any cblas.h: Debian's reference libblas-dev ships one
# too, without the libopenblas the tests and the trainers link.
HAVE_OPENBLAS := $(wildcard /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so /usr/lib64/libopenblas.so \
                              /usr/local/lib/libopenblas.so)
BUILD_PKGS := $(strip $(if $(shell command -v flex),,flex) $(if $(shell command -v bison),,bison))
TEST_PKGS := $(strip $(if $(wildcard /usr/include/cmocka.h),,libcmocka-dev) \
               $(if $(HAVE_OPENBLAS),,libopenblas-dev))

# $(call install,PACKAGES,WHAT): apt-get them as root, else say how and stop.
define install
	@if [ -n "$(1)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "netc: installing $(1) for $(2)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null || exit 1; \
	  else \
	    echo "missing for $(2): $(1). Install them with:"; \
	    echo "  sudo apt-get install $(1)"; \
	    exit 1; \
	  fi; \
	fi
endef

$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	$(call install,$(BUILD_PKGS),netc's build)
	@touch $@

$(BUILD)/.test-deps: | $(BUILD)/.deps
	$(call install,$(TEST_PKGS),the tests)
	@touch $@

deps: $(BUILD)/.deps $(BUILD)/.test-deps

# ---- the compiler ----

$(BUILD)/parser.c: grammar/parser.y | $(BUILD)/.deps
	bison -Wall -Werror -o $@ --header=$(BUILD)/parser.h $<

$(BUILD)/parser.h: $(BUILD)/parser.c
	@test -f $@

$(BUILD)/lexer.c: grammar/lexer.l | $(BUILD)/.deps
	flex -o $@ $<

# The templates are compiled into netc, so it runs from anywhere.
$(BUILD)/templates.c: $(TEMPLATES) Makefile | $(BUILD)/.deps
	@{ echo '/* generated from templates/ by the Makefile; do not edit */'; \
	  echo '#include <string.h>'; echo '#include "emit.h"'; \
	  for f in $(TEMPLATES); do \
	    echo "static const char t_$$(basename $$f | tr . _)[] ="; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $$f; echo ';'; \
	  done; \
	  echo 'const char *template_text(const char *name) {'; \
	  for f in $(TEMPLATES); do \
	    echo "  if (strcmp(name, \"$$(basename $$f)\") == 0) return t_$$(basename $$f | tr . _);"; \
	  done; \
	  echo '  return NULL;'; echo '}'; } > $@

$(BUILD)/templates.o: $(BUILD)/templates.c
	$(CC) $(CPPFLAGS) $(CFLAGS) $(GEN_WARN) -c -o $@ $<

$(BUILD)/parser.o: $(BUILD)/parser.c
	$(CC) $(CPPFLAGS) $(CFLAGS) $(GEN_WARN) -c -o $@ $<

$(BUILD)/lexer.o: $(BUILD)/lexer.c $(BUILD)/parser.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(GEN_WARN) -c -o $@ $<

$(BUILD)/%.o: src/%.c $(BUILD)/parser.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/netc: $(BUILD)/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests ----

$(BUILD)/tests/%.o: tests/unit/%.c $(BUILD)/parser.h | $(BUILD)/.test-deps
	@mkdir -p $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# ---- models compiled by netc, for the tests that run them ----

$(BUILD)/gen/%.c: tests/models/%.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --prefix $*

$(BUILD)/gen/%.h: $(BUILD)/gen/%.c
	@test -f $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c | $(BUILD)/.test-deps
	$(CC) $(CFLAGS) -std=c99 -Wall -Wextra -pedantic -Werror -c -o $@ $<

# The layers model again, split over two threads and through CBLAS:
# test_models compares both with the plain build.
$(BUILD)/gen/layers_threads.c: tests/models/layers.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --threads 2 --prefix layers_threads
$(BUILD)/gen/layers_blas.c: tests/models/layers.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --blas --prefix layers_blas
TEST_MODELS += $(BUILD)/gen/layers_threads.o $(BUILD)/gen/layers_blas.o

# The choices model in float too, at -O3 where its loops vectorize: the
# choices by bits (nc_pick) must give the same values as the scalar code.
$(BUILD)/gen/choices_float.c: tests/models/choices.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --prefix choices_float
TEST_MODELS += $(BUILD)/gen/choices_float.o
$(BUILD)/gen/choices_float.o: CFLAGS += -O3

# Models again in lanes (--lanes 4, 3 and 8), in float with the lanes
# vectorized, and over two threads: test_models compares each with its
# twin that runs one example at a time, bit for bit.
$(BUILD)/gen/classifier_lanes4.c: tests/models/classifier.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --lanes 4 --prefix classifier_lanes4
$(BUILD)/gen/classifier_lanes3.c: tests/models/classifier.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --lanes 3 --prefix classifier_lanes3
$(BUILD)/gen/shared_adjoint_lanes4.c: tests/models/shared_adjoint.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --lanes 4 --prefix shared_adjoint_lanes4
$(BUILD)/gen/wide_softmax_lanes4.c: tests/models/wide_softmax.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --double --input-grads --lanes 4 --prefix wide_softmax_lanes4
$(BUILD)/gen/xor_lanes.c: examples/xor.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --lanes 8 --prefix xor_lanes
$(BUILD)/gen/xor_each.c: examples/xor.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --lanes 1 --prefix xor_each
# xor as netc writes it by default, in lanes where gcc builds it, and the
# same file built to run every example alone, as under clang
$(BUILD)/gen/xor_default.c: examples/xor.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --prefix xor_default
$(BUILD)/gen/xor_alone.c: examples/xor.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --prefix xor_alone
$(BUILD)/gen/xor_alone.o: CFLAGS += -DNC_IN_LANES=0
$(BUILD)/gen/xor_threads.c: examples/xor.net $(BUILD)/netc
	@mkdir -p $(BUILD)/gen
	$(BUILD)/netc compile $< -o $(BUILD)/gen --input-grads --lanes 8 --threads 2 --prefix xor_threads
TEST_MODELS += $(BUILD)/gen/classifier_lanes4.o $(BUILD)/gen/classifier_lanes3.o $(BUILD)/gen/shared_adjoint_lanes4.o
TEST_MODELS += $(BUILD)/gen/wide_softmax_lanes4.o
TEST_MODELS += $(BUILD)/gen/xor_lanes.o $(BUILD)/gen/xor_each.o $(BUILD)/gen/xor_threads.o
TEST_MODELS += $(BUILD)/gen/xor_default.o $(BUILD)/gen/xor_alone.o
$(BUILD)/gen/xor_lanes.o $(BUILD)/gen/xor_default.o $(BUILD)/gen/xor_alone.o: CFLAGS += -O3
$(BUILD)/gen/xor_threads.o: CFLAGS += -fopenmp
$(BUILD)/gen/layers_threads.o: CFLAGS += -fopenmp
$(BUILD)/tests/test_models: LDFLAGS += -fopenmp
$(BUILD)/tests/test_models: LDLIBS += -lopenblas

# The vector kernel of gemm() too, where the compiler and processor have it:
# test_gemm_avx2 (float) and test_gemm_double test it directly, and in
# 512-bit vectors test_gemm_avx512 and test_gemm_double_avx512; the layers
# model through generated code.
ifeq ($(shell uname -m),x86_64)
$(BUILD)/tests/test_gemm_avx2.o: CFLAGS += -mavx2 -mfma -fopenmp
$(BUILD)/tests/test_gemm_double.o: CFLAGS += -mavx2 -mfma
$(BUILD)/tests/test_mathf_fma.o $(BUILD)/tests/test_mathf_twins.o: CFLAGS += -mfma
$(BUILD)/tests/test_gemm_avx2: LDFLAGS += -fopenmp
$(BUILD)/tests/test_gemm_avx512.o: CFLAGS += -mavx512f -mavx2 -mfma -fopenmp
$(BUILD)/tests/test_gemm_double_avx512.o: CFLAGS += -mavx512f -mavx2 -mfma
$(BUILD)/tests/test_gemm_avx512: LDFLAGS += -fopenmp
$(BUILD)/gen/layers.o $(BUILD)/gen/layers_threads.o $(BUILD)/gen/choices_float.o: CFLAGS += -march=native
# the xor twins alike, so that all use the same fmaf
$(BUILD)/gen/xor_lanes.o $(BUILD)/gen/xor_each.o $(BUILD)/gen/xor_threads.o: CFLAGS += -march=native
$(BUILD)/gen/xor_default.o $(BUILD)/gen/xor_alone.o: CFLAGS += -march=native
endif

$(BUILD)/tests/test_models.o: $(TEST_MODELS:.o=.h)
$(BUILD)/tests/test_models: $(BUILD)/tests/test_models.o $(TEST_MODELS) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# generated/ holds what netc makes of each example; a test fails when it is stale.
generated: $(BUILD)/netc
	@for f in $(EXAMPLES); do \
	  n=$$(basename $$f .net); \
	  $(BUILD)/netc compile $$f -o generated/$$n || exit 1; \
	  echo "generated/$$n"; \
	done

# The quick start: the digits classifier, from its .net file to trained
# weights, then its gradients checked.
demo: $(BUILD)/netc
	$(BUILD)/netc trainer examples/digits.net -o $(BUILD)/demo
	$(MAKE) -C $(BUILD)/demo
	$(BUILD)/demo/digits_train --data examples/data/digits.csv --save $(BUILD)/demo/digits.weights
	$(BUILD)/netc gradcheck examples/digits.net

test: $(BUILD)/netc $(UNIT_TESTS)
	@status=0; for t in $(UNIT_TESTS); do $$t || status=1; done; exit $$status

check:
	$(MAKE) BUILD=build/san SAN=1 test

# ---- benchmarks: bench/bench.py against PyTorch and OpenBLAS ----

BENCH_PKGS := $(strip $(if $(HAVE_OPENBLAS),,libopenblas-dev) \
              $(if $(shell /usr/bin/python3 -c 'import torch' 2>/dev/null && echo yes),,python3-torch))

bench: $(BUILD)/netc
	$(call install,$(BENCH_PKGS),the benchmarks)
	BUILD=$(BUILD) /usr/bin/python3 bench/bench.py

# netc itself under valgrind: every stage on the examples and the gradcheck
# models (compile runs them all), the front end on every golden model.
valgrind: $(BUILD)/netc
	@command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
	@rm -rf $(BUILD)/valgrind; n=0; \
	for run in $(patsubst %,compile@%,$(EXAMPLES) $(wildcard tests/gradcheck/*.net)) \
	           $(patsubst %,check@%,$(wildcard tests/golden/*/*.net)); do \
	  cmd=$${run%%@*}; f=$${run#*@}; \
	  [ $$cmd = compile ] && cmd="compile -o $(BUILD)/valgrind"; \
	  valgrind -q --leak-check=full --error-exitcode=9 $(BUILD)/netc $$cmd $$f >/dev/null 2>&1; \
	  if [ $$? -eq 9 ]; then echo "valgrind: errors in 'netc $$cmd $$f'"; exit 1; fi; \
	  n=$$((n + 1)); \
	done; echo "valgrind: $$n runs of netc, no errors"

update-golden: $(BUILD)/tests/test_golden
	NETC_UPDATE_GOLDEN=1 $(BUILD)/tests/test_golden

clean:
	rm -rf build

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
