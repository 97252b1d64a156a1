#!/usr/bin/env bash
# Runs the kuttl suites against a local platform of their own, started here
# and removed on exit whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$root/bin:$PATH
state=$root/_output/e2e-platform
export QUORUM_STATE_DIR=$state QUORUM_BIN_DIR=$root/bin QUORUM_REPO=$root

cleanup() {
  rc=$?
  if [ -d "$state/logs" ]; then
    rm -rf "$root/_output/e2e-logs" && mkdir -p "$root/_output/e2e-logs" && cp -r "$state/logs/." "$root/_output/e2e-logs/"
    [ $rc -eq 0 ] || echo "e2e failed; component logs copied to _output/e2e-logs" >&2
  fi
  quorum-local down >/dev/null
  exit $rc
}
trap cleanup EXIT

quorum-local up
export KUBECONFIG=$state/kubeconfig
cd "$root/test/e2e"
start=$(date +%s)
kubectl-kuttl test --config kuttl-test.yaml "$@"
echo "kuttl suites took $(( $(date +%s) - start ))s"
