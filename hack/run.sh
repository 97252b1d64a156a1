#!/usr/bin/env bash
# The main job: start the local platform, install the XDatabase API, apply
# the example PostgreSQL (ha tier, vSphere) in namespace "demo", wait until
# its cluster is up, then print a psql command that works when pasted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$root/bin:$PATH
cd "$root"
quorum-local up
export KUBECONFIG=$root/.platform/kubeconfig
kubectl apply -f compositions/xdatabase/ -f compositions/legacy/ -f compositions/admission/ -f compositions/rbac/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s compositeresourcedefinition/xdatabases.platform.quorum.dev >/dev/null
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f examples/postgresql-vsphere.yaml
name=orders-postgresql-vsphere
echo "waiting for $name (VMs in the simulated vCenter, then PostgreSQL + Patroni over SSH on their guests)..."
start=$(date +%s)
for _ in $(seq 1 180); do
  phase=$(kubectl -n demo get xdatabase $name -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [ "$phase" = Available ] && break
  sleep 1
done
kubectl -n demo get xdatabase,virtualmachines,databasenodes,users,databases
if [ "$phase" != Available ]; then
  echo "the database is not Available after 180s (phase: ${phase:-none}, $(kubectl -n demo get xdatabase $name -o jsonpath='{.status.message}'));" \
    "component logs are in .platform/logs" >&2
  exit 1
fi
echo "available in $(( $(date +%s) - start ))s"
secret=$name-connection
cat <<MSG

PostgreSQL is up: three nodes over TLS (tier ha: asynchronous replication;
tier critical is synchronous), database orders owned by user orders_owner,
backups with pgBackRest. The app's connection Secret is demo/$secret
(keys username, password, host, port, database, uri, ca.crt). Connect with:

  export KUBECONFIG=$KUBECONFIG PATH=$root/bin:\$PATH
  psql "\$(kubectl -n demo get secret $secret -o jsonpath='{.data.uri}' | base64 -d)"

Stop and remove everything with: make down
MSG
