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
kubectl apply -f compositions/xdatabase/ -f compositions/legacy/ -f compositions/admission/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s compositeresourcedefinition/xdatabases.platform.quorum.dev >/dev/null
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f examples/postgresql-vsphere.yaml
name=orders-postgresql-vsphere
echo "waiting for $name (VMs in the simulated vCenter, then PostgreSQL + Patroni over SSH on their guests)..."
start=$(date +%s)
for _ in $(seq 1 120); do
  phase=$(kubectl -n demo get xdatabase $name -o jsonpath='{.status.phase}' 2>/dev/null || true)
  case "$phase" in Configuring|Available) break ;; esac
  sleep 1
done
kubectl -n demo get xdatabase,virtualmachines,databasenodes
if [ "$phase" != Configuring ] && [ "$phase" != Available ]; then
  echo "the database did not come up within 120s; component logs are in .platform/logs" >&2
  exit 1
fi
echo "cluster up in $(( $(date +%s) - start ))s"
secret=$name-admin
hosts=$(kubectl -n demo get secret $secret -o jsonpath='{.data.hosts}' | base64 -d)
cat <<MSG

PostgreSQL is up (admin credentials; app users and logical databases come
with the User and Database controllers, not built yet). Connect with:

  export KUBECONFIG=$KUBECONFIG PATH=$root/bin:\$PATH
  psql "postgresql://\$(kubectl -n demo get secret $secret -o jsonpath='{.data.username}' | base64 -d):\$(kubectl -n demo get secret $secret -o jsonpath='{.data.password}' | base64 -d)@$(echo "$hosts" | sed 's/,/:5432,/g'):5432/postgres?target_session_attrs=read-write"

Stop and remove everything with: make down
MSG
