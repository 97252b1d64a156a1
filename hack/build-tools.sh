#!/usr/bin/env bash
# Builds the binaries we use but do not ship into bin/, each from its own pinned
# tools module (tools/<name>/go.mod) so their dependency graphs never meet ours.
# A warm Go build cache makes this a relink of a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
mkdir -p "$BIN"

KUBE_VERSION=v1.33.13
XP_VERSION=v2.4.0
XP_CLI_VERSION=v2.5.0

kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=33"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
xpver=github.com/crossplane/crossplane-runtime/v2/pkg/version.version

build() { # build <module dir> <output> <package> [ldflags]
  local dir=$1 out=$2 pkg=$3 ldflags=${4:-}
  (cd "tools/$dir" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$out" "$pkg")
  echo "built bin/$out"
}

FERRETDB_VERSION=v1.24.2

want=${*:-kube crossplane cli kuttl codegen ferretdb}
for t in $want; do
  case $t in
    kube)
      build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
      build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
      build kube kubectl k8s.io/kubernetes/cmd/kubectl "$kube_ldflags" ;;
    crossplane)
      build crossplane crossplane-core github.com/crossplane/crossplane/v2/cmd/crossplane "-s -w -X $xpver=$XP_VERSION"
      # core init installs Crossplane's own CRDs from a folder (CRDS_PATH).
      crds=$(cd tools/crossplane && go list -m -f '{{.Dir}}' github.com/crossplane/crossplane/v2)/cluster/crds
      rm -rf "$BIN/crossplane-crds" && cp -r "$crds" "$BIN/crossplane-crds" && chmod -R u+w "$BIN/crossplane-crds" ;;
    cli) build cli crossplane github.com/crossplane/cli/v2/cmd/crossplane "-s -w -X $xpver=$XP_CLI_VERSION" ;;
    kuttl) build kuttl kubectl-kuttl github.com/kudobuilder/kuttl/cmd/kubectl-kuttl "-s -w" ;;
    codegen)
      build codegen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "-s -w"
      build codegen angryjet github.com/crossplane/crossplane-tools/cmd/angryjet "-s -w" ;;
    ferretdb)
      # FerretDB (MongoDB wire protocol, SQLite backend) for the MongoDB user
      # tests. Its build embeds build/version/version.txt, which the module
      # zip lacks: build from a copy with that file written.
      mod=github.com/FerretDB/FerretDB
      src=$(GOFLAGS=-mod=mod go mod download -json "$mod@$FERRETDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
      work=${TMPDIR:-/tmp}/quorum-ferretdb-$FERRETDB_VERSION
      if [ ! -f "$work/go.mod" ]; then
        rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work"
        echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
      fi
      (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$BIN/ferretdb" ./cmd/ferretdb)
      echo "built bin/ferretdb" ;;
    *) echo "unknown tool $t" >&2; exit 2 ;;
  esac
done
