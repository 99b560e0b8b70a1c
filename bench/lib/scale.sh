# shellcheck shell=bash disable=SC2034,SC2154
# bench/lib/scale.sh - what the two scale benchmarks share (issue 24, part 3
# "Scale"), sourced by bench/vaultd/scale.sh (vaultd) and
# bench/openbao-scale.sh (OpenBao): the knobs and their checks, a server's
# lifetime by PID, the HTTP helpers, and every measurement after the seeding
# (exec -> answering warm and cold, the load, idle RSS, LIST, revoke-prefix's
# timing). One copy, so both servers are measured the same way and write the
# same rows; how a server is seeded, started, unsealed and sized on disk
# stays in its script.
#
# Source it after ../shared/bench/lib/measure.sh (row, log, now_ns,
# ms_since, free_port, check_loopback, run_wrk, cpu_canary come from there).
# (SC2034/SC2154 are off: this file sets variables its caller and measure.sh
# read, and reads ones its caller sets.)
#
# The caller sets, before scale_knobs:
#   BENCH_ROOT   the bench/ folder (results/, wrk/ and scale_summary.py)
#   SHARED       ../shared/bench (its wrk/ holds common.lua)
#   RUN_NAME     names the default results folder results/<RUN_NAME>-<stamp>
#                and the fixtures' temp dir bench-<RUN_NAME>.XXXXXX
#   SERVER_PROG  the server's short name: it logs to $WORK/<scale>/<SERVER_PROG>.log,
#                kept at exit as logs/<SERVER_PROG>-<scale>.log
#   SCALE_KV_PATHS, SCALE_LEASES, SCALE_TOKENS   the full scale's sizes
#   SERVER_NAME  (measure.sh's row) and any knob of its own
# and defines these functions, each given a scale (small|full):
#   seed S            the fixture in $WORK/S: fixture.json (root_token, keys,
#                     kv_mount, list_folder, lease_prefix, lease_prefix_count),
#                     kv_paths.txt, tokens.txt; sets ADDR_OF[S] (loopback),
#                     ROOT_OF[S], KEYS_OF[S]; its rows under seed_S
#   start_server S    exec the server in the background, PID_OF[S]=$!
#   unseal_cli S      the 3 shares of KEYS_OF[S], one CLI call each
#   warm_storage S    read the scale's stored data into the page cache
#   warm_programs     the same for the binaries a start-up runs
#   storage_rows S LABEL   rows under storage_S: the stored data's size
#   revoke_prefix S   revoke_prefix_timed S and the server's own rows beside it
#
# Order in the caller: scale_knobs [ITS_INTEGER_KNOB...]; its own checks;
# scale_open; write_meta; scale_run.

# --------------------------------------------------------------------------
# Knobs shared by both (the header of each script lists them), checked
# before anything is written; the caller's integer knobs are checked too.
scale_knobs() { # [integer knob...]
  local v
  export BENCH_DURATION=${BENCH_DURATION:-10}
  export BENCH_WARMUP=${BENCH_WARMUP:-2}
  export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
  export BENCH_THREADS=${BENCH_THREADS:-2}
  BENCH_REPEATS=${BENCH_REPEATS:-3}
  BENCH_IDLE_WAIT=${BENCH_IDLE_WAIT:-5}
  BENCH_REVOKE_MAX_S=${BENCH_REVOKE_MAX_S:-600}
  BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
  SCALE_ONLY=${SCALE_ONLY:-}
  SCALE_KV_VERSIONS=${SCALE_KV_VERSIONS:-10}
  SCALE_SMALL_PATHS=${SCALE_SMALL_PATHS:-1000}
  SCALE_SMALL_LEASES=${SCALE_SMALL_LEASES:-3000}
  SCALE_SMALL_TOKENS=${SCALE_SMALL_TOKENS:-3000}
  BENCH_TMP=${BENCH_TMP:-/tmp}
  # Read by measure.sh's run_wrk: the *_random scripts are ours (bench/wrk),
  # and they find common.lua in the shared folder.
  WRK_DIR=$BENCH_ROOT/wrk
  export BENCH_SHARED_WRK=$SHARED/wrk
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  OUT=${BENCH_OUT:-$BENCH_ROOT/results/$RUN_NAME-$STAMP}
  LOGDIR=$OUT/logs
  REP=0

  for v in BENCH_DURATION BENCH_WARMUP BENCH_CONNECTIONS BENCH_THREADS BENCH_REPEATS BENCH_IDLE_WAIT \
    BENCH_REVOKE_MAX_S SCALE_KV_VERSIONS SCALE_KV_PATHS SCALE_LEASES SCALE_TOKENS \
    SCALE_SMALL_PATHS SCALE_SMALL_LEASES SCALE_SMALL_TOKENS "$@"; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }
  done
  ((BENCH_DURATION >= 1 && BENCH_DURATION <= 120)) || { echo "BENCH_DURATION must be 1..120 s" >&2; exit 2; }
  ((BENCH_REPEATS >= 1 && BENCH_REPEATS <= 10)) || { echo "BENCH_REPEATS must be 1..10" >&2; exit 2; }
  ((BENCH_CONNECTIONS >= 1 && BENCH_CONNECTIONS <= 256)) || { echo "BENCH_CONNECTIONS must be 1..256" >&2; exit 2; }
  ((BENCH_REVOKE_MAX_S >= 1 && BENCH_REVOKE_MAX_S <= 3600)) || { echo "BENCH_REVOKE_MAX_S must be 1..3600" >&2; exit 2; }
  case $SCALE_ONLY in
    "") SCALES="small full" ;;
    small | full) SCALES=$SCALE_ONLY ;;
    *) echo "SCALE_ONLY must be small or full" >&2; exit 2 ;;
  esac
  if [[ "$BENCH_DROP_CACHES" == 1 && $(id -u) != 0 ]]; then
    echo "cold starts need root (/proc/sys/vm/drop_caches); run as root or set BENCH_DROP_CACHES=0" >&2
    exit 2
  fi
  command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

  declare -gA PATHS=([small]=$SCALE_SMALL_PATHS [full]=$SCALE_KV_PATHS)
  declare -gA LEASES=([small]=$SCALE_SMALL_LEASES [full]=$SCALE_LEASES)
  declare -gA TOKENS=([small]=$SCALE_SMALL_TOKENS [full]=$SCALE_TOKENS)
  declare -gA PID_OF=() ADDR_OF=() LOAD_TOKEN=() ROOT_OF=() KEYS_OF=()
}

scale_open() { # the results folder, the fixtures' temp dir, and their cleanup at exit
  mkdir -p "$LOGDIR"
  [[ -f "$OUT/results.tsv" ]] || printf 'rep\tserver\ttest\tmetric\tvalue\tunit\n' >"$OUT/results.tsv"
  WORK=$(mktemp -d "$BENCH_TMP/bench-$RUN_NAME.XXXXXX")
  trap scale_cleanup EXIT
  trap 'exit 130' INT TERM
}

scale_cleanup() {
  set +e
  local s
  for s in "${!PID_OF[@]}"; do stop_server "$s"; done
  for s in small full; do
    [[ -f "$WORK/$s/$SERVER_PROG.log" ]] && tail -c 1000000 "$WORK/$s/$SERVER_PROG.log" >"$LOGDIR/$SERVER_PROG-$s.log"
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

# What a reader needs to compare two runs. The caller gives its server's
# line, the scales' sizes as it counts them, and any parameter of its own.
write_meta() { # server-line sizes [extra params]
  {
    echo "date_utc: $STAMP"
    echo "host: $(nproc) CPUs, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "$1"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "data fs: $(df -T "$BENCH_TMP" | awk 'NR==2{print $1, $2, $5 " free"}')"
    echo "scales: $SCALES; small ${PATHS[small]} paths, full ${PATHS[full]} paths, x $SCALE_KV_VERSIONS versions; $2"
    echo "params: repeats=$BENCH_REPEATS duration=${BENCH_DURATION}s warmup=${BENCH_WARMUP}s connections=$BENCH_CONNECTIONS wrk_threads=$BENCH_THREADS idle_wait=${BENCH_IDLE_WAIT}s drop_caches=$BENCH_DROP_CACHES${3:+ $3}"
  } >>"$OUT/meta.txt"
}

# --------------------------------------------------------------------------
stop_server() { # scale: stop the server we started for it, by PID
  local pid=${PID_OF[$1]:-} i
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 6000; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  wait "$pid" 2>/dev/null || true
  PID_OF[$1]=""
}

fx() { jq -r "$2" "$WORK/$1/fixture.json"; } # scale jq-filter: a fixture field

http_code() { # curl args... -> HTTP status (000 when nothing answered)
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true
}

# Poll (bounded: BENCH_START_MAX_S, default 120 s) until PATH answers WANT
# (any|200); fails at once if the scale's server died.
wait_code() { # scale path want [token]
  local s=$1 path=$2 want=$3 token=${4:-} code=000 i max=${BENCH_START_MAX_S:-120}
  for ((i = 0; i < max * 200; i++)); do
    if ! kill -0 "${PID_OF[$s]}" 2>/dev/null; then
      echo "$SERVER_PROG ($s) exited; log: $(tail -c 500 "$WORK/$s/$SERVER_PROG.log")" >&2
      return 1
    fi
    code=$(http_code -H "X-Vault-Token: $token" "${ADDR_OF[$s]}$path")
    if [[ "$want" == any && "$code" != 000 ]] || [[ "$code" == "$want" ]]; then return 0; fi
    sleep 0.005
  done
  echo "timeout waiting for $path ($want) on the $s vault, last code $code" >&2
  return 1
}

api() { # scale METHOD PATH [JSON] -> body; fails on HTTP >= 400. Uses $API_TOKEN.
  local s=$1 method=$2 path=$3 data=${4:-} out code
  local args=(-sS --max-time 120 -X "$method" -H "X-Vault-Token: ${API_TOKEN:-}" -w $'\n%{http_code}')
  [[ -z "$data" ]] || args+=(-H 'Content-Type: application/json' --data "$data")
  out=$(curl "${args[@]}" "${ADDR_OF[$s]}$path")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 400)); then echo "API $method $path -> $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; } # pid VmRSS|VmHWM

# --------------------------------------------------------------------------
# One exec -> answering: rows under startup_<scale>, metrics suffixed _warm
# or _cold. The server is stopped again (by PID) afterwards.
startup_once() { # scale warm|cold
  local s=$1 mode=$2 t_exec t_listen t_unsealed t_answer rss
  if [[ "$mode" == cold ]]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  fi
  t_exec=$(now_ns)
  start_server "$s"
  wait_code "$s" /v1/sys/health any
  t_listen=$(now_ns)
  unseal_cli "$s"
  t_unsealed=$(now_ns)
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  t_answer=$(now_ns)
  rss=$(rss_kb "${PID_OF[$s]}" VmRSS)
  stop_server "$s"
  row "startup_$s" "exec_to_listen_${mode}_ms" $(((t_listen - t_exec) / 1000000)) ms
  row "startup_$s" "unseal_${mode}_ms" $(((t_unsealed - t_listen) / 1000000)) ms
  row "startup_$s" "unsealed_to_answer_${mode}_ms" $(((t_answer - t_unsealed) / 1000000)) ms
  row "startup_$s" "exec_to_answer_${mode}_ms" $(((t_answer - t_exec) / 1000000)) ms
  row "startup_$s" "rss_at_answer_${mode}_kb" "$rss" KiB
  log "  $s $mode rep $REP: exec->listening $(((t_listen - t_exec) / 1000000)) ms, 3 CLI unseals $(((t_unsealed - t_listen) / 1000000)) ms, unsealed->answer $(((t_answer - t_unsealed) / 1000000)) ms, exec->answer $(((t_answer - t_exec) / 1000000)) ms, RSS $((rss / 1024)) MiB"
}

startups() { # scale
  local s=$1 r
  # Warm: the data (and the binaries) in the page cache, whatever the seed left.
  warm_storage "$s"
  warm_programs
  for ((r = 1; r <= BENCH_REPEATS; r++)); do REP=$r startup_once "$s" warm; done
  if [[ "$BENCH_DROP_CACHES" == 1 ]]; then
    for ((r = 1; r <= BENCH_REPEATS; r++)); do REP=$r startup_once "$s" cold; done
  else
    log "  $s: cold starts skipped (BENCH_DROP_CACHES=0)"
  fi
}

# The long-running server of a scale, for the load: unsealed, a load token
# made, one request of each kind checked as wrk will send it.
serve() { # scale
  local s=$1 path token mount
  mount=$(fx "$s" .kv_mount)
  warm_storage "$s"
  start_server "$s"
  wait_code "$s" /v1/sys/health any
  unseal_cli "$s"
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  API_TOKEN=${ROOT_OF[$s]}
  api "$s" PUT /v1/sys/policies/acl/scale-read "$(jq -nc --arg p "path \"$mount/data/*\" { capabilities = [\"read\"] }" '{policy:$p}')" >/dev/null
  LOAD_TOKEN[$s]=$(api "$s" POST /v1/auth/token/create '{"policies":["scale-read"],"ttl":"4h","display_name":"scale"}' | jq -r .auth.client_token)
  API_TOKEN=${LOAD_TOKEN[$s]}
  for path in "$(head -1 "$WORK/$s/kv_paths.txt")" "$(tail -1 "$WORK/$s/kv_paths.txt")"; do
    api "$s" GET "/v1/$mount/data/$path" | jq -e '.data.data' >/dev/null ||
      { echo "kv read check ($s, $path) failed" >&2; return 1; }
  done
  for token in "$(head -1 "$WORK/$s/tokens.txt")" "$(tail -1 "$WORK/$s/tokens.txt")"; do
    API_TOKEN=$token api "$s" GET /v1/auth/token/lookup-self | jq -e '.data.id' >/dev/null ||
      { echo "token lookup check ($s) failed" >&2; return 1; }
  done
  log "  $s: serving at ${ADDR_OF[$s]} (pid ${PID_OF[$s]}), checks passed"
}

use_scale() { # scale: point lib/measure.sh and the wrk scripts at it
  ADDR=${ADDR_OF[$1]} SERVER_PID=${PID_OF[$1]}
  export BENCH_TOKEN=${LOAD_TOKEN[$1]}
  BENCH_KV_MOUNT=$(fx "$1" .kv_mount)
  export BENCH_KV_MOUNT
  export BENCH_KV_PATHS_FILE=$WORK/$1/kv_paths.txt
  export BENCH_TOKENS_FILE=$WORK/$1/tokens.txt
}

idle_rss_rows() { # label: every serving scale's RSS after BENCH_IDLE_WAIT s without requests
  local s
  sleep "$BENCH_IDLE_WAIT"
  REP=0
  for s in $SCALES; do
    row "server_$s" "rss_idle_$1_kb" "$(rss_kb "${PID_OF[$s]}" VmRSS)" KiB
    row "server_$s" "hwm_$1_kb" "$(rss_kb "${PID_OF[$s]}" VmHWM)" KiB
    log "  $s: idle RSS $1: $(($(rss_kb "${PID_OF[$s]}" VmRSS) / 1024)) MiB"
  done
}

list_folder() { # scale
  local s=$1 folder mount expected i out n ok=1
  folder=$(fx "$s" .list_folder)
  mount=$(fx "$s" .kv_mount)
  expected=$(grep -c "^$folder/" "$WORK/$s/kv_paths.txt" || true)
  for ((i = 1; i <= 5; i++)); do
    out=$(curl -sS --max-time 120 -X LIST -H "X-Vault-Token: ${ROOT_OF[$s]}" -o "$WORK/$s/list.json" \
      -w '%{http_code} %{time_total}' "${ADDR_OF[$s]}/v1/$mount/metadata/$folder/")
    n=$(jq '.data.keys | length' "$WORK/$s/list.json" 2>/dev/null || echo 0)
    [[ "${out%% *}" == 200 && "$n" == "$expected" ]] || ok=0
    REP=$i row "list_$s" list_ms "$(awk -v t="${out#* }" 'BEGIN{printf "%.1f", t * 1000}')" ms
  done
  REP=0
  row "list_$s" keys_listed "$n" count
  row "list_$s" keys_expected "$expected" count
  row "list_$s" keys_ok "$ok" flag
  ((ok == 1)) || log "  WARNING: LIST $mount/metadata/$folder/ gave $n keys (HTTP ${out%% *}), expected $expected"
  log "  $s: LIST of $folder/ ($n keys): $(awk -F'\t' -v t="list_$s" '$3==t && $4=="list_ms"{printf "%s ", $5}' "$OUT/results.tsv")ms"
}

lease_keys() { # scale prefix -> number of leases LIST shows under it (0 once it is gone: 404)
  local out code
  out=$(curl -sS --max-time 120 -X LIST -H "X-Vault-Token: ${ROOT_OF[$1]}" -w $'\n%{http_code}' \
    "${ADDR_OF[$1]}/v1/sys/leases/lookup/$2/")
  code=${out##*$'\n'}
  if [[ "$code" == 404 ]]; then echo 0; return; fi
  [[ "$code" == 200 ]] || { echo "LIST sys/leases/lookup/$2/ -> $code" >&2; return 1; }
  jq '.data.keys | length' <<<"${out%$'\n'*}"
}

# revoke-prefix of the fixture's lease_prefix, timed two ways: the call's
# own time (curl's), and until LIST sys/leases/lookup/<prefix> shows none
# (polled, bounded; at once for a server that revokes before answering).
# Writes the rows every server has under revoke_prefix_<scale> and leaves,
# for the caller's own rows and log line: REVOKE_PREFIX, REVOKE_BEFORE (the
# leases listed before), REVOKE_CALL_MS, REVOKE_ALL_MS, REVOKE_LEFT; the
# server's answer is in $WORK/<scale>/revoke.json.
revoke_prefix_timed() { # scale
  local s=$1 prefix expected before t0 out call_ms all_ms left=-1 i
  # Trailing "/" dropped: OpenBao refuses writes to a path ending in "/"
  # ("cannot write to a path ending in '/'"); both servers take the prefix
  # as a folder. The request is bench/vaultd/run.sh's and
  # ../shared/bench/openbao/run.sh's.
  prefix=$(fx "$s" .lease_prefix)
  prefix=${prefix%/}
  expected=$(fx "$s" .lease_prefix_count)
  API_TOKEN=${ROOT_OF[$s]}
  before=$(lease_keys "$s" "$prefix")
  t0=$(now_ns)
  # sync: answer once revoked, as those run.sh ask (OpenBao's CLI default is
  # the queued, asynchronous form). The poll below holds either way.
  out=$(curl -sS --max-time "$BENCH_REVOKE_MAX_S" -X PUT -H "X-Vault-Token: $API_TOKEN" \
    -H 'Content-Type: application/json' --data '{"sync":true}' -o "$WORK/$s/revoke.json" \
    -w '%{http_code} %{time_total}' "${ADDR_OF[$s]}/v1/sys/leases/revoke-prefix/$prefix" || echo "000 0")
  call_ms=$(awk -v t="${out#* }" 'BEGIN{printf "%.1f", t * 1000}')
  for ((i = 0; i < BENCH_REVOKE_MAX_S * 10; i++)); do
    left=$(lease_keys "$s" "$prefix") || left=-1
    ((left == 0)) && break
    sleep 0.1
  done
  all_ms=$(ms_since "$t0")
  REP=0
  row "revoke_prefix_$s" leases_expected "$expected" count
  row "revoke_prefix_$s" leases_before "$before" count
  row "revoke_prefix_$s" http_status "${out%% *}" code
  row "revoke_prefix_$s" call_ms "$call_ms" ms
  row "revoke_prefix_$s" all_gone_ms "$all_ms" ms
  row "revoke_prefix_$s" leases_left "$left" count
  ((before == 0)) || row "revoke_prefix_$s" leases_per_s "$(awk -v n="$before" -v ms="$all_ms" 'BEGIN{printf "%.1f", n / (ms / 1000)}')" ops/s
  [[ "${out%% *}" =~ ^2 ]] || log "  WARNING: revoke-prefix answered ${out%% *}: $(head -c 300 "$WORK/$s/revoke.json" 2>/dev/null)"
  ((before == expected)) || log "  WARNING: $before leases under $prefix/ before, the fixture says $expected"
  REVOKE_PREFIX=$prefix REVOKE_BEFORE=$before REVOKE_CALL_MS=$call_ms REVOKE_ALL_MS=$all_ms REVOKE_LEFT=$left
}

# --------------------------------------------------------------------------
# The run: per scale the seed, its size and the start-ups; then one server
# per scale, all running at once, for the load (the scales interleaved
# within each round, so that a drift of this shared VM's speed hits both
# sides of the ratio alike), idle RSS, LIST and revoke-prefix; the summary.
scale_run() {
  local s r
  for s in $SCALES; do
    log "scale $s"
    seed "$s"
    storage_rows "$s" after_seed
    startups "$s"
  done

  log "load: one server per scale"
  for s in $SCALES; do serve "$s"; done
  idle_rss_rows before_load
  for ((r = 1; r <= BENCH_REPEATS; r++)); do
    REP=$r
    LOGDIR=$OUT/logs/round$r # run_wrk's logs are named by test: one folder per round
    mkdir -p "$LOGDIR"
    for s in $SCALES; do
      use_scale "$s"
      REP=$r cpu_canary "before_$s"
      run_wrk "kv_read_random_$s" kv_read_random.lua "$BENCH_DURATION" || log "  WARNING: kv_read_random_$s failed"
      run_wrk "token_lookup_random_$s" token_lookup_random.lua "$BENCH_DURATION" || log "  WARNING: token_lookup_random_$s failed"
    done
  done
  LOGDIR=$OUT/logs
  idle_rss_rows after_load
  for s in $SCALES; do
    list_folder "$s"
    revoke_prefix "$s"
    stop_server "$s"
    storage_rows "$s" after_load
  done

  python3 "$BENCH_ROOT/scale_summary.py" "$OUT" | tee "$OUT/summary.txt"
  log "done: $OUT/summary.txt"
}
