# portlab — make demo runs the main job, make test runs every test.
GO        ?= go
BIN       := bin/portlab
PKGS      := ./...
# Debian tools the interop tests drive (command:package).
TEST_TOOLS := curl:curl wrk:wrk tshark:tshark wakeonlan:wakeonlan chromium:chromium ldapsearch:ldap-utils dig:bind9-dnsutils nft:nftables iptables-restore:iptables
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 30s

.PHONY: all build test test-tools lint fuzz bench bench-peers bench-scale demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portlab

# Installs only what is missing: apt-get update once, then apt-get install -y.
test-tools:
	@missing=""; for t in $(TEST_TOOLS); do cmd=$${t%%:*}; pkg=$${t##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing test tools:$$missing (install them, or run as root)"; exit 0; fi; \
	  echo "installing test tools:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# All tests, including those that need root when run as root (they skip with the reason
# otherwise). One package at a time (-p 1): netsim's tests check that the host's namespace
# list is unchanged, which another package pinning namespaces at the same moment (the
# --keep test) would upset; and the end-to-end runs' latency gates get the machine to
# themselves. The whole suite takes about 4 minutes on 2 cores.
test: test-tools
	$(GO) vet $(PKGS)
	$(GO) test -p 1 -count=1 -timeout 25m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# A short run of every fuzz target (FUZZTIME each). Go minimises every new interesting
# input for up to 60 s by default, and in a short run that is all the fuzzer does (the
# scenario loader managed 80 executions in 2 minutes): FUZZMINIMIZE bounds it to a
# number of executions, so the time goes to exploring. A failing input is still
# minimised that far and saved under testdata/fuzz for `go test` to replay.
FUZZMINIMIZE ?= 100x
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 $(PKGS)

# The fleet as a load generator beside wrk, hey and vegeta: the same request, rate and
# connection pattern against one portlab mp serve on loopback; CPU per request of each,
# medians of 3 interleaved runs (about 8 minutes). Installs wrk if missing (root), builds
# hey and vegeta with go install. See bench/peers/README.md. PEERS_FLAGS='-rate 2000 ...'.
PEERS_FLAGS ?=
bench-peers: build
	$(GO) run ./bench/peers $(PEERS_FLAGS)

# The one-MP scenario (mp-capacity) through portlab run at 5,000 to 25,000 clients, one
# after the other (about 12 minutes), and a table of what each cost. SCALE_CLIENTS=...
SCALE_CLIENTS ?= 5000,10000,15000,20000,25000
bench-scale: build
	$(GO) run ./bench/scale -clients $(SCALE_CLIENTS)

# The main job: every built-in scenario at its default (small) scale, 30 s to 2 minutes each.
DEMO_OUT ?= portlab-results/demo
demo: build
	@rm -rf $(DEMO_OUT); fail=0; \
	for s in $$($(BIN) list | awk '{print $$1}'); do \
	  $(BIN) run $$s --out $(DEMO_OUT)/$$s --quiet; rc=$$?; \
	  [ $$rc -eq 0 ] || fail=1; \
	done; \
	echo; echo "reports (open report.html in a browser; summary.md, junit.xml, result.json beside it):"; \
	for d in $(DEMO_OUT)/*/; do echo "  $$d"; done; \
	exit $$fail

clean:
	rm -rf bin
