# ainews — one non-recursive Makefile.
#   make            build bot/ainews (release, -O2)
#   make test       build with ASan+UBSan and run every test (ends "N passed, N failed")
#   make run        build, create var/, ingest the samples, start the bot on the console
#   make bench      build release benchmarks and print figures
#   make deps       install missing Debian packages (apt-get / sudo / prints the command)
#   make valgrind   run the unit tests under valgrind
# CI=true adds -Werror.

PKGS      := libwebsockets libcurl libcjson sqlite3 opencc openssl
# libcurl's and OpenCC's headers only: the bot loads those libraries itself
# on first use (bot/rest.c, bot/normalise.c), so they are not linked.
# OpenSSL (libwebsockets' TLS) is called directly for the CA directory.
LINK_PKGS := libwebsockets libcjson sqlite3 openssl
CC        ?= cc
CSTD      := -std=c11
WARN      := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(CI),true)
WARN      += -Werror
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null) -lpthread -lm
CFLAGS    ?= -O2 -g
SAN       := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CORE_SRC  := $(filter-out bot/main.c bot/gen_trad.c,$(wildcard bot/*.c)) $(wildcard plugins/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard tests/bench_*.c)

REL_OBJ   := $(CORE_SRC:%.c=build/rel/%.o)
SAN_OBJ   := $(CORE_SRC:%.c=build/san/%.o)
TESTS     := $(TEST_SRC:tests/%.c=build/san/tests/%)
BENCHES   := $(BENCH_SRC:tests/%.c=build/rel/tests/%)

.PHONY: all deps test run bench valgrind clean format check-deps check-test-deps
.SECONDARY:
.DEFAULT_GOAL := all

all: check-deps bot/ainews

# Every build target checks the packages first (installing what is missing);
# the test targets also check the test tools. `make deps` does both.
check-deps:
	@sh .ci/deps.sh build

check-test-deps:
	@sh .ci/deps.sh test

deps:
	@sh .ci/deps.sh test

bot/ainews: build/rel/bot/main.o $(REL_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

build/rel/%.o: %.c $(wildcard bot/*.h plugins/*.h) build/gen/trad_map.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Ibot -Iplugins -Ibuild/gen $(PKG_CFLAGS) -c -o $@ $<

build/san/%.o: %.c $(wildcard bot/*.h plugins/*.h tests/*.h) build/gen/trad_map.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(SAN) -Ibot -Iplugins -Itests -Ibuild/gen $(PKG_CFLAGS) -c -o $@ $<

# The table of Traditional-only ideographs, from the OpenCC installed here.
build/gen/trad_map.h: bot/gen_trad.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 $(shell pkg-config --cflags opencc) -o build/gen/gen_trad $< $(shell pkg-config --libs opencc)
	./build/gen/gen_trad > $@.tmp && mv $@.tmp $@

build/san/ainews: build/san/bot/main.o $(SAN_OBJ)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

build/san/tests/%: build/san/tests/%.o $(SAN_OBJ)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

build/rel/tests/%: build/rel/tests/%.o $(REL_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

test: check-test-deps build/san/ainews bot/ainews $(TESTS)
	@AINEWS_BIN=build/san/ainews AINEWS_REL_BIN=bot/ainews sh tests/run $(TESTS)

valgrind: check-test-deps $(TEST_SRC:tests/%.c=build/rel/tests/%)
	@for t in $(TEST_SRC:tests/%.c=build/rel/tests/%); do \
	  valgrind -q --leak-check=full --error-exitcode=9 --child-silent-after-fork=yes $$t >/dev/null || { echo "valgrind: $$t failed"; exit 1; }; \
	  echo "valgrind: $$t clean"; done

bench: check-test-deps bot/ainews $(BENCHES)
	@sh tests/bench.sh $(BENCHES)

run: all
	@mkdir -p var/inbox
	@./bot/ainews ingest tests/fixtures/samples | sed "s/^/  /"
	@echo "ainews: type '/ainews compute', '/ainews 算力' or '/ainews help' below; Ctrl-D or /quit ends."
	@echo "        Drop a story file into var/inbox/ and watch the alert appear; pages at http://127.0.0.1:8080/"
	@./bot/ainews run --console

format:
	clang-format -i bot/*.c bot/*.h plugins/*.c tests/*.c tests/*.h

clean:
	rm -rf build bot/ainews
