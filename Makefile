# Docket's developer entry points. `make test` is what CI runs (see .ci/run).

GO       ?= go
BIN      := bin/docket
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Debian packages the tests need: containerd, the OCI runtime, CNI plugins,
# and Prometheus (with promtool) for the metrics end-to-end test.
HOST_PKGS := containerd runc containernetworking-plugins prometheus

.PHONY: lint all build test vet deps test-deps fuzz bench fmt clean images containerd dev

all: build

# build makes bin/docket and, beside it, bin/docket-logger: the small log
# driver containerd runs for every task (docket finds it next to itself).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docket
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)-logger ./cmd/docket-logger

# apt_install installs the packages $(1) when this is a root shell on
# Debian; elsewhere it says what is missing ($(2)) and what happens without
# it ($(3)).
apt_install = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(1)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(1) || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(1); }; \
	else \
		echo "missing:$(2) — install: apt-get install $(1) ($(3))"; \
	fi

# deps installs the host packages the integration tests need when they are
# missing.
deps:
	@missing=""; \
	for b in containerd runc containerd-shim-runc-v2 prometheus promtool; do \
		command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; \
	done; \
	[ -d /usr/lib/cni ] || missing="$$missing cni-plugins"; \
	if [ -n "$$missing" ]; then $(call apt_install,$(HOST_PKGS),$$missing,containerd tests skip without them); fi

# lint runs staticcheck (a pinned release, fetched through the module proxy).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	$(GO) run $(STATICCHECK) ./...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test-deps adds the real SQS and SNS clients the tests drive: Debian's
# AWS CLI (query protocol) and python3-boto3, and openssl, with which the
# SNS scenario checks a notification's signature as a subscriber would;
# and busybox-static and curl, of which the shell custom runtime's image is
# made.
TEST_PKGS := awscli python3-boto3 openssl busybox-static curl
test-deps: deps
	@if [ ! -x /usr/bin/aws ] || ! /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || ! command -v openssl >/dev/null || \
		! command -v busybox >/dev/null || ! command -v curl >/dev/null; then \
		$(call apt_install,$(TEST_PKGS), aws boto3 openssl busybox curl,the AWS client and shell runtime tests skip without them); \
	fi

# test runs vet and every test, including the ones that start a real
# containerd (they need root; with CI set they fail instead of skipping).
# The core packages run under the race detector; the crash soak's child
# servers are the race-built test binary, so a race there fails it too.
RACE_PKGS := ./internal/... ./scheduler/... ./agent/... ./specs/...
test: test-deps vet
	$(GO) test -count=1 -timeout 40m -race $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e /internal/ -e /scheduler -e /agent -e /specs)

# images builds the example workers' OCI archives into examples/images.
images:
	$(GO) run ./examples/cmd/build-images

# containerd starts the system containerd when it is not running (as root);
# docket dev and docket agent talk to its socket.
CONTAINERD_SOCK ?= /run/containerd/containerd.sock
containerd: deps
	@if ! ctr --address $(CONTAINERD_SOCK) version >/dev/null 2>&1; then \
		echo "starting containerd (log: /var/log/docket-containerd.log)"; \
		mkdir -p /run/containerd; \
		nohup containerd >>/var/log/docket-containerd.log 2>&1 & \
		for i in $$(seq 1 100); do ctr --address $(CONTAINERD_SOCK) version >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi
	@ctr --address $(CONTAINERD_SOCK) version >/dev/null

# dev is the quick start: a server and an agent in one process on the
# system containerd, the example dispatch job registered and a few
# messages sent to it. Ctrl-C stops it and removes its containers.
DEMO ?= 5
dev: build images containerd
	$(BIN) dev --run examples/hello.hcl --demo $(DEMO)

# fuzz runs the job-language, filter-policy, delivery-policy and Lambda batch-report fuzzers; FUZZTIME=10m for a long run.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./specs -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pubsub/filter -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pubsub/delivery -run '^$$' -fuzz FuzzResolve -fuzztime $(FUZZTIME)
	$(GO) test ./internal/lambdaevent -run '^$$' -fuzz FuzzSQSBatchResult -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
