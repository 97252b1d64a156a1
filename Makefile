# Quorum: a database-as-a-service on Crossplane.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

.PHONY: all tools build generate test e2e run down status xpkg bench lint ci

all: build

## tools: build the pinned binaries we use but do not ship (kube, crossplane, kuttl, codegen) into bin/
tools:
	./hack/build-tools.sh

## generate: regenerate deepcopy, managed method sets and CRDs (running it twice changes nothing)
generate:
	./hack/build-tools.sh codegen
	rm -rf package/provider/crds
	rm -rf package/function/input
	cd functions/xdatabase/input && $(BIN)/controller-gen object:headerFile=../../../hack/boilerplate.go.txt paths=./... \
		crd:crdVersions=v1 output:artifacts:config=../../../package/function/input
	cd apis && $(BIN)/controller-gen object:headerFile=../hack/boilerplate.go.txt paths=./... \
		crd:crdVersions=v1,allowDangerousTypes=false output:artifacts:config=../package/provider/crds
	cd apis && $(BIN)/angryjet generate-methodsets --header-file=../hack/boilerplate.go.txt ./...
	gofmt -w apis functions
	go run ./hack/xrdgen compositions/xdatabase compositions/legacy docs/api.md

## build: build the provider, the function, the local platform CLI and its simulators into bin/
build:
	go build -o $(BIN)/provider ./cmd/provider
	go build -o $(BIN)/function ./cmd/function
	go build -o $(BIN)/quorum-local ./cmd/quorum-local
	go build -o $(BIN)/quorum-vcsim ./cmd/quorum-vcsim
	go build -o $(BIN)/quorum-fakecloud ./cmd/quorum-fakecloud
	go build -o $(BIN)/quorum-objectstore ./cmd/quorum-objectstore

## lint: go vet and gofmt
lint:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

## xpkg: build the provider, function and configuration packages into _output/xpkg
xpkg: build
	./hack/build-tools.sh cli
	$(BIN)/quorum-local xpkg --out _output/xpkg

## test: unit and integration tests, then the end-to-end kuttl suites on the local platform
test: tools build lint
	go test -count=1 ./...
	$(MAKE) e2e

## e2e: kuttl suites against a local platform started and stopped for the run
e2e: tools build
	./test/e2e/run.sh

## run: start the local platform (idempotent) and print how to reach it
run: tools build
	./hack/run.sh

## status: show the local platform's components
status:
	$(BIN)/quorum-local status

## down: stop the local platform and remove everything it created
down:
	@if [ -x $(BIN)/quorum-local ]; then $(BIN)/quorum-local down; else go run ./cmd/quorum-local down; fi

## bench: every benchmark (function, platform, provisioning, failover), results with the machine in bench/results.md
bench: tools build
	./hack/bench.sh
