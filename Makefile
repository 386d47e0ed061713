# k8sm — Kubernetes on Apache Mesos, as an operator.

IMG ?= ghcr.io/k8sm/k8sm:latest
# VERSION is the operator's version in the OLM bundle; BUNDLE_IMG the bundle image;
# BUNDLE_MANAGER_IMG the manager image its CSV runs (not IMG, whose default is :latest,
# which a bundle of one version should not name).
VERSION ?= 0.1.0
BUNDLE_IMG ?= ghcr.io/k8sm/k8sm-bundle:v$(VERSION)
BUNDLE_MANAGER_IMG ?= ghcr.io/k8sm/k8sm:v$(VERSION)
ENVTEST_K8S_VERSION ?= 1.37.2
# The tests and tools it runs find bin/k8s/$(ENVTEST_K8S_VERSION) by it (internal/testenv).
export ENVTEST_K8S_VERSION
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
KUSTOMIZE ?= $(LOCALBIN)/kustomize
KUSTOMIZE_VERSION ?= v5.8.1

# Packages whose markers make CRDs, RBAC and deepcopy.
GEN_PATHS ?= ./api/...;./controllers/...

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Try it

MESOS_MASTER ?=
DEMO_ARGS ?=

.PHONY: demo
demo: build ## Run k8sm locally with a sample pod: apiserver + mesos-sim + manager + executor (MESOS_MASTER=url uses your Mesos). The first run may build kube-apiserver and etcd.
	@assets="$$(LOCALBIN=$(LOCALBIN) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" && \
	$(LOCALBIN)/k8sm-local up --assets "$$assets" $(if $(MESOS_MASTER),--mesos-master "$(MESOS_MASTER)") $(DEMO_ARGS)

.PHONY: run
# The probes on loopback: the manager's default, :8081, is for a pod, where the kubelet
# probes it; on a workstation it would answer on every interface.
run: manifests generate ## Run the manager against the cluster in ~/.kube/config (its CRDs installed first: kubectl apply -k config/crd).
	go run ./cmd/manager --health-probe-bind-address=127.0.0.1:8081

##@ Test

.PHONY: test
# KUBE_CACHE_MUTATION_DETECTOR has every informer of the tests (and of the managers they
# start) keep a copy of each object it caches and panic when the cached one changes: the
# manager reads many cached objects without copying them, to read only.
test: verify vet lint test-deps fuzz ## Run every test (unit, envtest, e2e) after checking generated files, vet and lint.
	KUBEBUILDER_ASSETS="$$(LOCALBIN=$(LOCALBIN) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		KUBE_CACHE_MUTATION_DETECTOR=true go test ./... -count=1 -timeout 40m

# FUZZ_TARGETS are the native Go fuzz targets, as Target:package:inputs; make fuzz runs
# each for that many inputs, a few seconds each (their seeds and crashers under
# testdata/fuzz also run in go test). FUZZTIME, when set, replaces every budget: a count
# (50000x) or a duration (1m).
FUZZTIME ?=
FUZZ_TARGETS = FuzzPodToTaskInfo:./internal/podtask:20000x FuzzDecodePod:./executor:20000x \
	FuzzEventStream:./internal/framework:2000x FuzzGetAgents:./internal/framework:2000x

.PHONY: fuzz
# The budgets are counts, not durations: when a duration ends while a worker is still
# running an input (a loaded machine), Go's fuzzing coordinator can report "context
# deadline exceeded" as a failure with no crasher behind it. Minimizing is off
# (-fuzzminimizetime 0) for the same reason; a crasher is written to testdata/fuzz
# unminimized.
fuzz: ## Run each fuzz target briefly (FUZZTIME=1m for longer).
	@for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; rest=$${t#*:}; pkg=$${rest%%:*}; budget=$${rest#*:}; \
		budget=$${FUZZTIME:-$$budget}; \
		echo "go test -run '^$$' -fuzz '^$$name$$' -fuzztime $$budget -fuzzminimizetime 0 $$pkg"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$budget" -fuzzminimizetime 0 "$$pkg" || exit 1; \
	done

.PHONY: test-unit
test-unit: ## Run the tests that need no apiserver.
	go test -short ./... -count=1

CHAOS_ARGS ?=

.PHONY: chaos
chaos: ## The long chaos run: 2 manager replicas, mesos-sim with real k8sm-executors, 1,000 pods over 50 agents, 150 faults from a seed (CHAOS_ARGS="-chaos.seed=7 -chaos.pods=300"; -chaos.exec=false simulates the tasks).
	@assets="$$(LOCALBIN=$(LOCALBIN) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" && \
	K8S_VERSION=v$(ENVTEST_K8S_VERSION) hack/build-k8s-binaries.sh $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION) kube-controller-manager && \
	KUBEBUILDER_ASSETS="$$assets" go test ./test/chaos -run . -count=1 -timeout 60m -v -args -chaos.long -chaos.exec $(CHAOS_ARGS)

BENCH_ARGS ?= -agents 100 -pods 2000

.PHONY: bench
bench: build ## Measure pods/s and create→Running latency against kube-scheduler (BENCH_ARGS="-agents 1000 -pods 10000").
	@assets="$$(LOCALBIN=$(LOCALBIN) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" && \
	K8S_VERSION=v$(ENVTEST_K8S_VERSION) hack/build-k8s-binaries.sh $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION) kube-scheduler && \
	KUBEBUILDER_ASSETS="$$assets" go run ./test/bench -bin $(LOCALBIN) $(BENCH_ARGS)
	go test -run XXX -bench . -benchmem ./internal/placement/ ./internal/mesossim/

##@ Develop

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="$(GEN_PATHS)" output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

GENERATED = config/crd/bases config/rbac/role.yaml $(wildcard api/*/zz_generated.*.go)

.PHONY: verify
verify: controller-gen ## Fail when generated files were stale (and regenerate them), code is not gofmt'ed, or a Go file is over 600 lines.
	@before=$$(find $(GENERATED) -type f | sort | xargs sha256sum); \
	$(MAKE) --no-print-directory manifests generate >/dev/null; \
	after=$$(find $(GENERATED) -type f | sort | xargs sha256sum); \
	if [ "$$before" != "$$after" ]; then \
		echo "Generated files were stale: 'make manifests generate' changed them (commit the result):"; \
		diff <(echo "$$before") <(echo "$$after") || true; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	@hack/check-size.sh

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

##@ Build and ship

.PHONY: build
build: ## Build the manager, executor, mesos-sim and k8sm-local binaries into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/k8sm-executor ./cmd/k8sm-executor
	go build -o $(LOCALBIN)/mesos-sim ./cmd/mesos-sim
	go build -o $(LOCALBIN)/k8sm-local ./cmd/k8sm-local

.PHONY: build-installer
build-installer: manifests kustomize ## Render dist/install.yaml (CRDs, RBAC, manager) for IMG, dist/install-before-1.36.yaml, dist/install-with-tasks-api.yaml and dist/install-with-tasks-in-memory.yaml.
	@# The image is set in a copy of config/: kustomize edit rewrites the kustomization it
	@# edits, and the committed one is to stay as it is.
	mkdir -p dist
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp -R config "$$tmp/" && \
	(cd "$$tmp/config/manager" && $(KUSTOMIZE) edit set image controller=$(IMG)) && \
	$(KUSTOMIZE) build "$$tmp/config/default" > dist/install.yaml && \
	$(KUSTOMIZE) build "$$tmp/config/install-before-1.36" > dist/install-before-1.36.yaml && \
	$(KUSTOMIZE) build "$$tmp/config/tasks-api" > dist/install-with-tasks-api.yaml && \
	$(KUSTOMIZE) build "$$tmp/config/tasks-in-memory" > dist/install-with-tasks-in-memory.yaml
	@echo "Wrote dist/install.yaml (Kubernetes 1.36 and later), dist/install-before-1.36.yaml, dist/install-with-tasks-api.yaml and dist/install-with-tasks-in-memory.yaml: kubectl apply -f dist/install.yaml"

.PHONY: bundle
bundle: manifests ## Write the OLM bundle (bundle/, bundle.Dockerfile) for VERSION, with the manager image BUNDLE_MANAGER_IMG (default ghcr.io/k8sm/k8sm:v$(VERSION)).
	go run ./hack/bundle -version $(VERSION) -image $(BUNDLE_MANAGER_IMG)

.PHONY: bundle-build
bundle-build: ## Build the bundle image BUNDLE_IMG (needs a Docker engine).
	docker build -f bundle.Dockerfile -t $(BUNDLE_IMG) .

.PHONY: docker-build
docker-build: ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image IMG (needs a Docker engine, logged in to its registry).
	docker push $(IMG)

##@ Tools

.PHONY: envtest
envtest: ## Obtain kube-apiserver and etcd for tests (download, or build from the Go module proxy).
	@LOCALBIN=$(LOCALBIN) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh

.PHONY: test-deps
test-deps: ## Install what the tests need (ZooKeeper, containerd, runc, busybox from Debian; kube-controller-manager, kube-scheduler, a kubelet, metrics-server and, without one in PATH, kubectl built from the Go module proxy), when missing.
	@hack/install-test-deps.sh
	@hack/build-metrics-server.sh $(LOCALBIN)/metrics-server
	@K8S_VERSION=v$(ENVTEST_K8S_VERSION) hack/build-k8s-binaries.sh $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION) kube-controller-manager kube-scheduler
	@if ! command -v kubectl >/dev/null; then \
		K8S_VERSION=v$(ENVTEST_K8S_VERSION) hack/build-k8s-binaries.sh $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION) kubectl; fi
	@if command -v containerd >/dev/null; then \
		K8S_VERSION=v$(ENVTEST_K8S_VERSION) hack/build-k8s-binaries.sh $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION) kubelet; fi

# Each tool is installed as bin/<tool>-<version>, with bin/<tool> a symlink to it: the
# versioned file is the make target, so a version bump installs the new one instead of
# keeping whatever bin/<tool> is, and bin/<tool> stays the path to call.
CONTROLLER_GEN_VERSIONED = $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE_VERSIONED = $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT_VERSIONED = $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# go-install-tool: $(1) the versioned path, $(2) the package, $(3) its version. It is
# installed into a scratch directory and moved into place only when whole, so an
# interrupted install is not taken for a finished one.
define go-install-tool
	@mkdir -p "$(LOCALBIN)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "go install $(2)@$(3)" && GOBIN="$$tmp" go install "$(2)@$(3)" && \
	mv "$$tmp"/* "$(1)"
endef

# link-tool points bin/$(2) at the versioned $(1), replacing an older link or file.
define link-tool
	@[ "$$(readlink "$(LOCALBIN)/$(2)")" = "$(notdir $(1))" ] || ln -sfn "$(notdir $(1))" "$(LOCALBIN)/$(2)"
endef

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN_VERSIONED)
	$(call link-tool,$<,controller-gen)
$(CONTROLLER_GEN_VERSIONED):
	$(call go-install-tool,$@,sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE_VERSIONED)
	$(call link-tool,$<,kustomize)
$(KUSTOMIZE_VERSIONED):
	$(call go-install-tool,$@,sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT_VERSIONED)
	$(call link-tool,$<,golangci-lint)
$(GOLANGCI_LINT_VERSIONED):
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))
