#!/usr/bin/env bash
# bench/vaultd/lease-unseal.sh - how soon vaultd serves after unsealing a vault
# that holds many leases (issue 8: 200,000 leases, first answer in under 2 s).
#
# Seeds a SQLite vault with LEASES leases (default 200000; the
# `seed_leases` example, 5 shares / threshold 3), then BENCH_REPEATS times
# (default 3): starts the release vaultd on it, unseals with 3 `vault-cli
# operator unseal` calls, and times the first answers: a token lookup-self
# and a lookup of one of the leases over the HTTP API. Prints one line per
# repetition and the medians; the fixture lives in a temp dir removed at exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VAULTD_BIN=${VAULTD_BIN:-$REPO/target/release/vaultd}
VAULT_CLI_BIN=${VAULT_CLI_BIN:-$REPO/target/release/vault-cli}
LEASES=${LEASES:-200000}
BENCH_REPEATS=${BENCH_REPEATS:-3}
[[ "$LEASES" =~ ^[0-9]+$ && "$BENCH_REPEATS" =~ ^[0-9]+$ ]] || { echo "LEASES and BENCH_REPEATS must be integers" >&2; exit 2; }
((BENCH_REPEATS >= 1 && BENCH_REPEATS <= 10)) || { echo "BENCH_REPEATS must be 1..10" >&2; exit 2; }
[[ -x "$VAULTD_BIN" && -x "$VAULT_CLI_BIN" ]] ||
  { echo "build first: cargo build --release -p vaultd -p vault-cli" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lease-unseal.XXXXXX")
PID=""
cleanup() {
  [[ -z "$PID" ]] || { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(now_ms)
(cd "$REPO" && cargo run --quiet --release --locked -p vault-core --example seed_leases -- \
  "$WORK/vault.db" "$LEASES" "$WORK/fixture.json")
echo "seeded $LEASES leases in $(($(now_ms) - t0)) ms; database $(du -h "$WORK/vault.db" | cut -f1)"
ROOT=$(jq -r .root_token "$WORK/fixture.json")
LEASE=$(jq -r .lease_id "$WORK/fixture.json")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=http://127.0.0.1:$PORT
printf 'log_level = "warn"\n[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nkind = "sqlite"\npath = "%s"\n' \
  "$PORT" "$WORK/vault.db" >"$WORK/vaultd.toml"

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }
rows=()
for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
  t_exec=$(now_ms)
  "$VAULTD_BIN" --config "$WORK/vaultd.toml" >>"$WORK/vaultd.log" 2>&1 &
  PID=$!
  for ((i = 0; i < 1000; i++)); do [[ $(code "$ADDR/v1/sys/health") != 000 ]] && break; sleep 0.01; done
  t_listen=$(now_ms)
  for k in 0 1 2; do
    VAULT_ADDR=$ADDR "$VAULT_CLI_BIN" operator unseal "$(jq -r ".keys[$k]" "$WORK/fixture.json")" >/dev/null
  done
  t_unsealed=$(now_ms)
  for ((i = 0; i < 2000; i++)); do
    [[ $(code -H "X-Vault-Token: $ROOT" "$ADDR/v1/auth/token/lookup-self") == 200 ]] && break
    sleep 0.001
  done
  [[ $(code -H "X-Vault-Token: $ROOT" -X PUT -d "{\"lease_id\":\"$LEASE\"}" "$ADDR/v1/sys/leases/lookup") == 200 ]] ||
    { echo "the lease lookup failed; log: $(tail -c 500 "$WORK/vaultd.log")" >&2; exit 1; }
  t_answered=$(now_ms)
  rss=$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$PID/status")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  row="$((t_listen - t_exec)) $((t_unsealed - t_listen)) $((t_answered - t_unsealed)) $((t_answered - t_listen)) $((t_answered - t_exec)) $rss"
  rows+=("$row")
  read -r a b c d e f <<<"$row"
  echo "rep $rep: exec->listening ${a} ms, 3 CLI unseals ${b} ms, unsealed->2 answers ${c} ms, first unseal call->answers ${d} ms, exec->answers ${e} ms, RSS ${f} MiB"
done
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
names = ["exec->listening ms", "3 CLI unseals ms", "unsealed->2 answers ms", "first unseal call->answers ms", "exec->answers ms", "RSS MiB"]
for i, n in enumerate(names):
    print("median %-32s %g" % (n, statistics.median(r[i] for r in rows)))
'
