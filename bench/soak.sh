#!/usr/bin/env bash
# Soak: mixed OTP and SMS traffic for SOAK_MINUTES (default 30) while carriers and clients
# restart, then a check of the ledger the clients wrote: every submit got exactly one final
# answer, and every accepted message that asked for a receipt got exactly one receipt.
#
#   bench/soak.sh                 # 30 minutes
#   SOAK_MINUTES=5 bench/soak.sh  # a shorter run
#
# What restarts:
#   - carrier A (first for SMS) drops its link every 3,000 submits per connection (unanswered submits: outcome
#     unknown, answered to the client with an error, never resent) and leaves 0.05 % of submits
#     unanswered (timeouts); the router rebinds with backoff;
#   - carrier B (first for OTPs without iMessage) is stopped with SIGTERM every 2 minutes (it refuses submits and sends the
#     receipts it owes, then exits) and started again 3 s later; routes fail over to A meanwhile;
#   - clients are load-generator runs of 20–90 s each, two loops (OTP and SMS), one after another:
#     every run binds, sends, waits for its receipts and unbinds; receipts that come after a run
#     ended wait in the router's store for the next one.
# Not in CI: it takes half an hour. Everything runs on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${SOAK_MINUTES:-30}"
cargo build --release -j2 --quiet -p smpp-router-cli
bin="$PWD/target/release/smpp-router"
dir="$(mktemp -d)"
echo "soak: ${minutes} min, files in $dir"
pids=()
b_pid="" otp_loop="" sms_loop=""
cleanup() {
  for p in "${pids[@]}" $b_pid $otp_loop $sms_loop; do kill "$p" 2>/dev/null || true; done
  pkill -P $$ 2>/dev/null || true
}
trap cleanup EXIT

smpp=39775 api=39787 carrier_a=39875 carrier_b=39876
hash="$("$bin" hash-password soak)"
cat > "$dir/router.toml" <<TOML
routes = "$dir/routes.toml"
data_dir = "$dir"
[listen]
plain = "127.0.0.1:$smpp"
tls = "off"
[admin]
listen = "off"
[log]
level = "info"
TOML
cat > "$dir/routes.toml" <<TOML
[[account]]
system_id = "soak"
password_hash = "$hash"
max_binds = 20
tps = 100000
window = 200

[[channel]]
name = "imessage"
kind = "imessage"
base_url = "http://127.0.0.1:$api"
api_key = "soak-key"

[[channel]]
name = "carrier-a"
kind = "smpp"
host = "127.0.0.1"
port = $carrier_a
system_id = "router"
password = "pw"
binds = 2
window = 100
response_timeout = "3s"
reconnect_min = "100ms"
reconnect_max = "2s"

[[channel]]
name = "carrier-b"
kind = "smpp"
host = "127.0.0.1"
port = $carrier_b
system_id = "router"
password = "pw"
window = 100
response_timeout = "3s"
reconnect_min = "100ms"
reconnect_max = "2s"

[[route]]
name = "otp"
content = "(?i)code"
channels = ["imessage", "carrier-b", "carrier-a"]

[[route]]
name = "default"
channels = ["carrier-a", "carrier-b"]
TOML

"$bin" sim otpblue --listen "127.0.0.1:$api" --api-key soak-key --latency 20ms >"$dir/otpblue.log" 2>&1 &
pids+=($!)
"$bin" sim carrier --listen "127.0.0.1:$carrier_a" --receipt-delay 300ms --drop-after 3000 \
  --ignore-share 0.0005 >"$dir/carrier-a.log" 2>&1 &
pids+=($!)
start_b() { "$bin" sim carrier --listen "127.0.0.1:$carrier_b" --receipt-delay 500ms >>"$dir/carrier-b.log" 2>&1 & b_pid=$!; }
start_b
"$bin" run --config "$dir/router.toml" >"$dir/router.log" 2>&1 &
router_pid=$!
pids+=($router_pid)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$smpp") 2>/dev/null && break; sleep 0.1; done
sleep 1

end=$(( $(date +%s) + minutes * 60 ))
load=("$bin" load --addr "127.0.0.1:$smpp" --system-id soak --password soak
      --registered-delivery 1 --wait-receipts 3s)
client_loop() {  # name, extra args...
  local name="$1"; shift
  local n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    n=$((n + 1))
    # One ledger per run: concurrent writers to one file would interleave their lines.
    "${load[@]}" --duration "$(( RANDOM % 71 + 20 ))s" --ledger "$dir/ledger-$name-$n" "$@" \
      >>"$dir/client-$name.log" 2>&1 || echo "run $n failed" >>"$dir/client-$name.log"
  done
}
client_loop otp --sessions 2 --window 20 --rate 300 --vary-to --to 14155550000 --text "Your code is 482910" &
otp_loop=$!
client_loop sms --sessions 2 --window 50 --rate 500 --to 447911123456 --text "Your parcel is on its way" &
sms_loop=$!

restarts=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 120 || true
  [ "$(date +%s)" -lt "$end" ] || break
  kill -TERM "$b_pid" 2>/dev/null || true
  wait "$b_pid" 2>/dev/null || true
  sleep 3
  start_b
  restarts=$((restarts + 1))
done
wait "$otp_loop" "$sms_loop" || true
echo "soak: traffic done; carrier B restarted $restarts times; collecting the last receipts"
sleep 5
# Carriers send what they still owe; then one receiver collects whatever the store kept.
kill -TERM "$b_pid" 2>/dev/null || true
wait "$b_pid" 2>/dev/null || true
"$bin" load --addr "127.0.0.1:$smpp" --system-id soak --password soak --mode rx --sessions 1 \
  --count 1000000000 --wait-receipts 15s --ledger "$dir/ledger-collector" >"$dir/collector.log" 2>&1 || true
kill -TERM "$router_pid"; wait "$router_pid" || true

python3 - "$dir"/ledger-* <<'PY'
import collections, fileinput, sys
answers = collections.Counter()
accepted = set()
no_answer = collections.Counter()
receipts = collections.Counter()
for line in fileinput.input(sys.argv[1:]):
    kind, _, rest = line.rstrip("\n").partition(" ")
    if kind == "S":
        status, _, mid = rest.partition(" ")
        answers[status] += 1
        if status == "00000000":
            accepted.add(mid)
    elif kind == "N":
        no_answer[rest] += 1
    elif kind == "R":
        receipts[rest.partition(" ")[0]] += 1
submits = sum(answers.values()) + sum(no_answer.values())
missing = [m for m in accepted if receipts[m] == 0]
dupes = {m: n for m, n in receipts.items() if n > 1}
unknown = [m for m in receipts if m not in accepted]
print(f"submits {submits}: answered {sum(answers.values())} "
      f"({', '.join(f'0x{s}: {n}' for s, n in sorted(answers.items()))}), without an answer {sum(no_answer.values())} {dict(no_answer)}")
print(f"receipts: {sum(receipts.values())} for {len(accepted)} accepted; missing {len(missing)}, "
      f"duplicated {len(dupes)}, for unknown ids {len(unknown)}")
for m in missing[:10]:
    print("  missing", m)
for m, n in list(dupes.items())[:10]:
    print("  duplicate", m, n)
ok = not no_answer and not missing and not dupes and not unknown
print("soak:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
