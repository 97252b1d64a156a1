#!/usr/bin/env bash
# The main job: start the local platform, install the XDatabase API and apply
# the example database in the "demo" namespace, then say how to reach it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$root/bin:$PATH
cd "$root"
quorum-local up
export KUBECONFIG=$root/.platform/kubeconfig
kubectl apply -f compositions/xdatabase/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s compositeresourcedefinition/xdatabases.platform.quorum.dev >/dev/null
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f examples/postgresql-vsphere.yaml
for _ in $(seq 1 60); do
  [ "$(kubectl -n demo get virtualmachines -o name 2>/dev/null | wc -l)" -ge 1 ] && break
  sleep 0.5
done
kubectl -n demo get xdatabases,virtualmachines
cat <<MSG

The example XDatabase "orders" is composed in namespace demo. Reach the platform with:
  export KUBECONFIG=$KUBECONFIG
  kubectl -n demo get xdatabases,virtualmachines
Virtual machines are not provisioned yet: the VirtualMachine controller and the
database nodes are the next issues, so no PostgreSQL endpoint exists to connect to.
Stop everything with: make down
MSG
