#!/usr/bin/env bash
# Reproduces the load figures in docs/performance.md. Builds the release binary, starts the router (and,
# for the iMessage scenario, the stand-in OTP Blue API) on loopback ports, runs the load
# generator against it, and prints the load generator's report.
#
#   bench/run.sh throughput   # 4 sessions x window 500, test channel that accepts at once
#   bench/run.sh receipts     # 120,000 msg/s offered for 5 s, every message asks for a receipt
#   bench/run.sh imessage     # 10 binds x window 100 through the iMessage channel, stand-in at 250 ms
#   bench/run.sh carrier      # 4 sessions x window 500 through the SMPP carrier channel to the
#                             # stand-in carrier, every message with a receipt relayed back
#   bench/run.sh direct       # the same load client straight to the stand-in carrier
#   RATE=40000 bench/run.sh carrier   # the same, offered at a fixed rate instead of as fast as
#                                     # the window allows (the sustained figure: do receipts keep up?)
#   bench/run.sh smpplib      # third-party clients at their library defaults (Nagle on), as users
#   bench/run.sh node         # run them: Python smpplib / npm smpp, one transceiver, every message
#   bench/run.sh netsmpp      # with a receipt from a test channel that accepts at once (Perl
#                             # Net::SMPP: plaintext only). WINDOW=1 (default) or 20, TLS=1 for the
#                             # TLS listener, COUNT=2000. Needs the peers (.ci/install-peers).
#                             # `load` in the other scenarios sets TCP_NODELAY; these do not.
#   CLUSTER=1 bench/run.sh carrier   # the same through a router in cluster mode (a Redis of its own,
#   CLUSTER=2 bench/run.sh carrier   # appendfsync always), or through two routers sharing it, the load
#                                    # split over both (two accounts; half the receipts cross between
#                                    # them through Redis); prints Redis's commands and CPU per message
# Other knobs: BIN=path (another build, not built here), STORE=memory (no disk), RD=0 (no receipts), SIM_STATS=N (the stand-in's counters
# every second, last N lines; it discards receipts beyond 200,000 queued), CARRIER_WINDOW=W (the
# router's window toward the stand-in, default 500), CARRIER_IDS=random (the stand-in's message
# ids are 32 hex digits in no order, as UUID-style carriers give, instead of a counter in hex: the
# store's carrier-id index gets them in no order), RECEIPT_DELAY=5s (how long
# after its submit the stand-in sends a receipt; default at once). The carrier scenario also
# prints the store's commits, any warning the router logged, and the router's CPU time per
# message (steadier than the rate when the machine's load varies). RECORDS=off (no delivery-record
# file) or RECORDS=pg (also to a PostgreSQL of its own, Debian's, on loopback, fsync off; after the
# run it prints how many records it has and how long after the run it took to have them all).
#
# Everything runs on this machine: the load generator competes with the router for the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-throughput}"
# BIN=path/to/smpp-router runs another build (A/B runs of two builds in one sitting).
if [ -z "${BIN:-}" ]; then cargo build --release -j2 --quiet -p smpp-router-cli; fi
bin="${BIN:-$PWD/target/release/smpp-router}"
dir="$(mktemp -d)"
pids=()
pg_stop() { :; }
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pg_stop; rm -rf "$dir"; }
trap cleanup EXIT

smpp_port=29775
tls_port=29776
api_port=29787
carrier_port=29875
hash="$("$bin" hash-password load)"
cat > "$dir/router.toml" <<TOML
data_dir = "$dir/data"
[listen]
plain = "127.0.0.1:$smpp_port"
tls = "$([ -n "${TLS:-}" ] && echo "127.0.0.1:$tls_port" || echo off)"
[log]
level = "warn"
[store]
engine = "${STORE:-redb}"   # STORE=memory bench/run.sh carrier: the same without the disk
TOML
case "${RECORDS:-}" in
  off) printf '[records]\ndir = "off"\n' >> "$dir/router.toml" ;;
  pg)
    pg_port=29432
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    mkdir -p "$dir/pg"
    as_pg=()
    if [ "$(id -u)" = 0 ]; then chmod 755 "$dir"; chown postgres "$dir/pg"; as_pg=(runuser -u postgres --); fi
    "${as_pg[@]}" "$pgbin/initdb" -A trust -U smpp --no-sync -D "$dir/pg" >/dev/null
    "${as_pg[@]}" "$pgbin/pg_ctl" start -w -D "$dir/pg" -l "$dir/pg/log" \
      -o "-p $pg_port -h 127.0.0.1 -k $dir/pg -c fsync=off" >/dev/null
    pg_stop() { "${as_pg[@]}" "$pgbin/pg_ctl" stop -m fast -D "$dir/pg" >/dev/null 2>&1 || true; }
    printf '[records]\npostgres = "postgres://smpp@127.0.0.1:%d/postgres"\n' "$pg_port" >> "$dir/router.toml" ;;
esac

account() {
  cat <<TOML
[[account]]
system_id = "load"
password_hash = "$hash"
max_binds = 20
tps = 1000000
window = $1
TOML
}

case "$scenario" in
  throughput|receipts|smpplib|node|netsmpp)
    { account 1000; cat <<'TOML'
[[channel]]
name = "sink"
kind = "test"
outcomes = ["delivered"]

[[route]]
name = "all"
channels = ["sink"]
TOML
    } > "$dir/routes.toml"
    ;;
  imessage)
    "$bin" sim otpblue --listen "127.0.0.1:$api_port" --api-key bench-key \
      --latency 250ms --no-imessage-share 0 >"$dir/sim.log" 2>&1 &
    pids+=($!)
    { account 100; cat <<TOML
[[channel]]
name = "imessage"
kind = "imessage"
base_url = "http://127.0.0.1:$api_port"
api_key = "bench-key"
max_concurrent = 2048

[[route]]
name = "otp"
channels = ["imessage"]
TOML
    } > "$dir/routes.toml"
    ;;
  carrier|direct)
    if [ -n "${CLUSTER:-}" ]; then
      redis_port=29379
      mkdir -p "$dir/redis"
      redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --save '' \
        --appendonly yes --appendfsync always --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
      redis_pid=$!
      pids+=($redis_pid)
      for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
      printf '[cluster]\nredis = "redis://127.0.0.1:%d"\nnode_id = 1\n' "$redis_port" >> "$dir/router.toml"
    fi
    "$bin" sim carrier --listen "127.0.0.1:$carrier_port" --receipt-delay "${RECEIPT_DELAY:-0ms}" \
      --id-format "${CARRIER_IDS:-hex}" >"$dir/sim.log" 2>&1 &
    pids+=($!)
    sim_pid=$!
    { account 1000; sed 's/^system_id = "load"/system_id = "load2"/' <<<"$(account 1000)"; cat <<TOML
[[channel]]
name = "carrier"
kind = "smpp"
host = "127.0.0.1"
port = $carrier_port
system_id = "router"
password = "pw"
binds = 4
window = ${CARRIER_WINDOW:-500}

[[route]]
name = "sms"
channels = ["carrier"]
TOML
    } > "$dir/routes.toml"
    ;;
  *) echo "unknown scenario $scenario (throughput, receipts, imessage, carrier, direct, smpplib, node, netsmpp)" >&2; exit 2 ;;
esac

"$bin" run --config "$dir/router.toml" >"$dir/router.log" 2>&1 &
router_pid=$!
pids+=($router_pid)
second_pid=""
if [ "${CLUSTER:-}" = 2 ]; then
  # A second instance: its own ports, data and node_id, the same routes and Redis.
  mkdir -p "$dir/b"
  { printf 'routes = "%s"\n' "$dir/routes.toml"
    sed -e "s|^data_dir = .*|data_dir = \"$dir/b/data\"|" -e "s|127.0.0.1:$smpp_port|127.0.0.1:$((smpp_port + 10))|" \
      -e "s|^node_id = 1|node_id = 2|" "$dir/router.toml"
    printf '[admin]\nlisten = "off"\n'; } > "$dir/b/router.toml"
  "$bin" run --config "$dir/b/router.toml" >"$dir/b/router.log" 2>&1 &
  second_pid=$!
  pids+=($second_pid)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$((smpp_port + 10))") 2>/dev/null && break; sleep 0.1; done
fi
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$smpp_port") 2>/dev/null && break
  sleep 0.1
done

[ "$scenario" = carrier ] && sleep 1   # let the channel bind to the carrier
# In a cluster of two the carrier's binds spread over both instances within a few seconds.
[ "${CLUSTER:-}" = 2 ] && sleep 12
# The router's CPU time so far, in clock ticks (user + system; both instances of CLUSTER=2).
router_cpu() { cat "/proc/$router_pid/stat" ${second_pid:+"/proc/$second_pid/stat"} | awk '{ t += $14 + $15 } END { print t }'; }
load=("$bin" load --addr "127.0.0.1:$smpp_port" --system-id load --password load)
if [ "$scenario" = direct ]; then
  load=("$bin" load --addr "127.0.0.1:$carrier_port" --system-id load --password load)
fi
case "$scenario" in
  smpplib|node|netsmpp)
    port=$smpp_port; [ -n "${TLS:-}" ] && port=$tls_port
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    n="${COUNT:-2000}"; w="${WINDOW:-1}"
    plan=$(printf '{"host":"127.0.0.1","port":%d,"tls":%s,"timeout":600,"steps":[{"op":"bind","mode":"trx","system_id":"load","password":"load"},{"op":"submit","count":%d,"window":%d,"registered_delivery":1,"text":"Your parcel arrives today"},{"op":"wait_receipts","count":%d,"timeout":60},{"op":"unbind"}]}' \
      "$port" "$([ -n "${TLS:-}" ] && echo true || echo false)" "$n" "$w" "$n")
    if [ "$scenario" = smpplib ]; then
      out=$(python3 tests/clients/smpplib_plan.py "$plan")
    elif [ "$scenario" = netsmpp ]; then
      out=$(perl tests/clients/netsmpp_plan.pl "$plan")
    else
      out=$(NODE_PATH=tests/clients/node_modules node tests/clients/node_plan.js "$plan")
    fi
    echo "$out" | python3 -c '
import json, sys
out = json.loads(sys.stdin.read())
s, r = out[1], out[2]
print("%s window %s %s: %.0f msg/s, accepted %s, receipts %s" % (sys.argv[1], sys.argv[2], sys.argv[3], s.get("rate", 0), s.get("statuses"), r.get("receipts")))
' "$scenario" "$w" "$([ -n "${TLS:-}" ] && echo TLS || echo plaintext)"
    ;;
  throughput) "${load[@]}" --sessions 4 --window 500 --count 1000000 ;;
  receipts)   "${load[@]}" --sessions 4 --window 500 --duration 5s --rate 120000 --registered-delivery 1 ;;
  imessage)   "${load[@]}" --sessions 10 --window 100 --duration 30s --vary-to --to 14155550000 ;;
  carrier|direct)
    if [ -n "${SIM_STATS:-}" ]; then (for _ in $(seq 30); do sleep 1; kill -USR1 "$sim_pid" 2>/dev/null || break; done) & fi
    cpu_before=$(router_cpu)
    if [ -n "${CLUSTER:-}" ]; then
      redis-cli -p "$redis_port" config resetstat >/dev/null
      redis_cpu_before=$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")
    fi
    if [ "${CLUSTER:-}" = 2 ]; then
      # Half the load on each instance, each with its own account.
      half=${RATE:+$((RATE / 2))}
      "${load[@]}" --sessions 2 --window 500 --duration 10s --registered-delivery "${RD:-1}" ${half:+--rate "$half"} > "$dir/load.out" &
      load_a=$!
      "$bin" load --addr "127.0.0.1:$((smpp_port + 10))" --system-id load2 --password load \
        --sessions 2 --window 500 --duration 10s --registered-delivery "${RD:-1}" ${half:+--rate "$half"} > "$dir/load2.out"
      wait "$load_a"
      echo "== instance 1 (account load)"; cat "$dir/load.out"
      echo "== instance 2 (account load2)"; cat "$dir/load2.out"
    else
      "${load[@]}" --sessions 4 --window 500 --duration 10s --registered-delivery "${RD:-1}" ${RATE:+--rate "$RATE"} | tee "$dir/load.out"
    fi
    if [ "$scenario" = carrier ]; then
      # The router's own CPU time over the run, per message sent (user + system, all threads).
      sent=$(cat "$dir"/load*.out | awk '/^sent/ { n += $2 } END { print n }')
      awk -v a="$cpu_before" -v b="$(router_cpu)" -v n="$sent" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { s = (b - a) / hz; printf "router CPU  %.2f core-seconds for %d messages: %.1f µs per message\n", s, n, s * 1e6 / n }'
      if [ -n "${CLUSTER:-}" ]; then
        calls=$(redis-cli -p "$redis_port" info commandstats | awk -F'[=,:]' '/^cmdstat_/ { n += $3 } END { print n }')
        awk -v a="$redis_cpu_before" -v b="$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")" -v n="$sent" -v c="$calls" -v hz="$(getconf CLK_TCK)" \
          'BEGIN { printf "redis       %d commands (%.2f per message), %.2f core-seconds: %.1f µs per message\n", c, c / n, (b - a) / hz, (b - a) / hz * 1e6 / n }'
        redis-cli -p "$redis_port" info commandstats | sed -E 's/^cmdstat_([a-z|]+):calls=([0-9]+).*/\1 \2/' | grep -v '^#' | sort -k2 -rn | head -8 | tr '\n' ' '; echo
      fi
    fi
    kill -USR1 "$sim_pid"; sleep 0.2; grep "stand-in carrier: submits" "$dir/sim.log" | tail -"${SIM_STATS:-1}"
    if [ "${RECORDS:-}" = pg ] && [ "$scenario" = carrier ]; then
      # The delivery records a message's final receipt puts in the spool reach PostgreSQL: how
      # long after the run until every message has its row.
      t0=$(date +%s.%N); rows=0
      for _ in $(seq 600); do
        rows=$("$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U smpp -d postgres -Atc 'select count(*) from delivery_records' 2>/dev/null || echo 0)
        [ "$rows" -ge "$sent" ] && break; sleep 0.1
      done
      awk -v r="$rows" -v n="$sent" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "postgres    %d records of %d messages, all in %.1f s after the load ended\n", r, n, b - a }'
    fi
    if [ "$scenario" = carrier ]; then
      kill -TERM "$router_pid"; wait "$router_pid" || true
      grep "store:" "$dir/router.log"
      # Anything the router warned about during the run (a lost receipt would show here).
      grep -E "WARN|ERROR" "$dir/router.log" | sed -E 's/^[^ ]+ +//; s/(id|carrier_id)=[^ ]+//g' | sort | uniq -c | sort -rn | head -5 || true
    fi ;;
esac
