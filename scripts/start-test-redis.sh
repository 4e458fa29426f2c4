#!/usr/bin/env bash
# Starts the Redis servers the tests use, on loopback ports of their own, unless they already answer:
# one node on 6390 (REDIS_URL) and a three-node Redis Cluster on 6391-6393 (REDIS_CLUSTER_URLS).
# Needs only Debian's redis-server package (redis-server and redis-cli). Stop them with
# scripts/start-test-redis.sh stop.
set -euo pipefail

SINGLE_PORT=6390
CLUSTER_PORTS=(6391 6392 6393)
DATA_DIR="${TMPDIR:-/tmp}/nestjs-genesys-auth-redis"

if [[ "${1:-}" == "stop" ]]; then
  for port in "$SINGLE_PORT" "${CLUSTER_PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$DATA_DIR"
  exit 0
fi

answers() { redis-cli -p "$1" ping >/dev/null 2>&1; }
wait_for() { for _ in $(seq 50); do answers "$1" && return 0; sleep 0.1; done; echo "redis on port $1 did not start" >&2; exit 1; }

if ! answers "$SINGLE_PORT"; then
  redis-server --port "$SINGLE_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
fi
wait_for "$SINGLE_PORT"

for port in "${CLUSTER_PORTS[@]}"; do
  if ! answers "$port"; then
    # Each node keeps its cluster state (nodes.conf) in a folder of its own, so a restarted node rejoins.
    mkdir -p "$DATA_DIR/$port"
    (cd "$DATA_DIR/$port" && redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 --save '' --appendonly no --daemonize yes >/dev/null)
  fi
  wait_for "$port"
done

if ! redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | grep -q 'cluster_state:ok'; then
  if [[ "$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | grep cluster_known_nodes | tr -dc 0-9)" == "1" ]]; then
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${CLUSTER_PORTS[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
  fi
  for _ in $(seq 100); do redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1; done
fi
redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | grep -q 'cluster_state:ok' || { echo "the Redis Cluster is not ok" >&2; exit 1; }
echo "Redis for the tests: REDIS_URL=redis://127.0.0.1:$SINGLE_PORT REDIS_CLUSTER_URLS=$(printf 'redis://127.0.0.1:%s,' "${CLUSTER_PORTS[@]}" | sed 's/,$//')"
