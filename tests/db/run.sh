#!/usr/bin/env bash
# `portcullis db` and the state lines of `portcullis check` through the
# real binary: exit statuses, standard output and error, JSON documents,
# against an LMDB store in a temporary directory (and a Redis URL nothing
# listens on, for the store that fails). No server is started, nothing
# outside the temporary directory is written.
#
#   tests/db/run.sh BUILD_DIR
#
# Prints `db NAME: ok` or `db NAME: FAILED` with what differed, then
# `db: N passed, M failed`; exits 1 if any failed, 2 on a usage or setup
# problem.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
binary=$(cd "$1" 2>/dev/null && pwd)/milter/portcullis
[ -x "$binary" ] || { echo "db: no $1/milter/portcullis" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

store=$work/store
mkdir "$store"
empty=$work/empty
mkdir "$empty"
conf=$work/portcullis.conf
cat >"$conf" <<EOF
state.path = $store
[greylist]
allow-time = 2d
EOF
# `portcullis check` without DNS: the golden configuration, its forwarder
# a loopback port nothing answers on (refused at once).
check_conf=(-c "$HERE/../golden/portcullis.conf" --resolver.forward=127.0.0.1@9)

passed=0
failed=0
status=0
out=$work/out
err=$work/err

# run ARGS...: `portcullis ARGS`, its status in $status, outputs in $out, $err.
run() {
    timeout 60 "$binary" "$@" >"$out" 2>"$err"
    status=$?
}

# expect NAME STATUS [PATTERN...]: the last run exited STATUS and its
# standard output (or error, for a PATTERN starting with "err:") holds
# each extended-regex PATTERN; "!PATTERN" must not match.
expect() {
    local name=$1 want=$2 pattern file problems=""
    shift 2
    [ "$status" = "$want" ] || problems+="exit status $status, expected $want"$'\n'
    for pattern in "$@"; do
        file=$out
        local negate=0
        if [[ $pattern == !* ]]; then negate=1; pattern=${pattern#!}; fi
        if [[ $pattern == err:* ]]; then file=$err; pattern=${pattern#err:}; fi
        if grep -qE -- "$pattern" "$file"; then
            [ $negate -eq 1 ] && problems+="$(basename "$file") matches '$pattern'"$'\n'
        else
            [ $negate -eq 0 ] && problems+="$(basename "$file") lacks '$pattern'"$'\n'
        fi
    done
    # Nothing the store holds may put a control byte on the terminal.
    if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$out" "$err"; then
        problems+="a control byte in the output"$'\n'
    fi
    if [ -z "$problems" ]; then
        echo "db $name: ok"
        passed=$((passed + 1))
    else
        echo "db $name: FAILED"
        printf '%s' "$problems" | sed 's/^/    /'
        echo "    standard output:"
        sed 's/^/      /' "$out"
        echo "    standard error:"
        sed 's/^/      /' "$err"
        failed=$((failed + 1))
    fi
}

# json EXPRESSION: evaluates a Python expression over the JSON document
# on standard output (as `d`); prints its value.
json() {
    "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$out" "$1" 2>&1
}

# --- usage and configuration errors: 2 ---------------------------------
run db -c "$conf"
expect usage-no-subcommand 2 "err:a subcommand is missing"
run db frob -c "$conf"
expect usage-unknown-subcommand 2 "err:no subcommand 'frob'"
run db show 192.0.2.0/24 -c "$conf"
expect usage-show-network 2 "err:is not an IP address"
run db show $'\e[2J\a' -c "$conf"
expect usage-hostile-address 2 'err:\\x1B\[2J\\x07'
run db allow 192.0.2.1 --for 10y -c "$conf"
expect usage-bad-duration 2 "err:--for '10y'"
run db list --limit 0 -c "$conf"
expect usage-bad-limit 2 "err:--limit '0'"
run db list --no-such-option -c "$conf"
expect usage-unknown-option 2 "err:no-such-option"
run db delete 'a key' -c "$conf"
expect usage-bad-key 2 "err:is not a key"
run db stats -c "$work/missing.conf"
expect config-missing-file 2 "err:missing.conf"
run db stats -c "$conf" --state.backend=memcached
expect config-bad-backend 2 "err:state.backend"
run db list -c "$conf" --state.backend=redis --state.redis=http://127.0.0.1/
expect config-bad-redis-url 2 "err:state.redis"
run db --help
expect help 0 "portcullis db list" "portcullis db allow ADDRESS\|NETWORK"

# --- a missing store: 3, and nothing created ---------------------------
for subcommand in "list" "show 192.0.2.7" "stats" "delete pass:x" "unblock 192.0.2.7"; do
    # shellcheck disable=SC2086 # the subcommand and its argument
    run db $subcommand -c "$conf" --state.path="$empty"
    expect "missing-store-${subcommand%% *}" 3 "err:no store at $empty/portcullis.mdb"
done
run db list --json -c "$conf" --state.path="$empty"
expect missing-store-json 3 '"status": "unavailable"'
[ -z "$(ls -A "$empty")" ]
status=$?
expect missing-store-left-alone 0
run db list -c "$conf" --state.path="$work/no-such-directory"
expect missing-directory 3 "err:no store at"
run db list -c "$conf" --state.backend=redis --state.redis=redis://127.0.0.1:1/0
expect redis-unreachable 3 "err:the store failed: unavailable: "

# --- allow, list, show, delete, unblock, stats ---------------------------
run db allow 192.0.2.77/24 -c "$conf"
expect allow-network 0 "^allowed 192\.0\.2\.0/24 until .* UTC \(172800 s\)$"
run db allow 2001:db8::1 --for 1h --json -c "$conf"
expect allow-address-json 0 '"network": "2001:db8::1/128"' '"seconds_left": 3600' '"unblocked": false'
run db allow 192.0.2.0/24 --for 90m -c "$conf"
expect allow-renew 0 "^allowed 192\.0\.2\.0/24 until .* \(5400 s\), was until "
# The renewed entry goes last; the entry lives as long as its latest line.
run db list -c "$conf"
expect list 0 "^allowlist  until .* \(5400 s left\)  2001:db8::1/128 [0-9]+\\\\n192\.0\.2\.0/24 [0-9]+\\\\n$"
run db list grey: --json -c "$conf"
expect list-empty-prefix 0 '"entries": \[\]'
run db show 192.0.2.200 -c "$conf"
expect show 0 "^client 192\.0\.2\.200, origin 192\.0\.2\.0/24$" "^block: none$" \
    "^  rsets 0 \(limit 50\)$" "^allowlist: 192\.0\.2\.0/24 until " \
    "^greylist pass: none for 192\.0\.2\.0/24$" "^triplets of 192\.0\.2\.0/24: none$"
run db show 198.51.100.1 --json -c "$conf"
expect show-nothing-stored 1 '"stored": false'
run db show 2001:db8::1 --json -c "$conf"
expect show-json 0 '"origin": "2001:db8::/64"'
value=$(json 'd["allowlist"][0]["network"] + " " + str(d["stored"])')
[ "$value" = "2001:db8::1/128 True" ]
status=$?
expect show-json-parsed 0
run db stats --json -c "$conf"
value=$(json '(d["entries"], d["live"]["allowlist"], d["live"]["grey"], d["more"])')
expect stats 0 '"capacity": 268435456'
[ "$value" = "(1, 2, 0, [])" ]
status=$?
expect stats-parsed 0
run db unblock 192.0.2.7 -c "$conf"
expect unblock-nothing 1 "^nothing stored for 192\.0\.2\.7: no block, no counter$"
run db delete allowlist -c "$conf"
expect delete 0 "^deleted allowlist$"
run db delete allowlist --json -c "$conf"
expect delete-again 1 '"existed": false'

# --- portcullis check: the state lines, read only -----------------------
run check --ip 192.0.2.200 "${check_conf[@]}" --state.path="$empty"
expect check-no-store 0 "^state: not available: state.path: no store at $empty/portcullis.mdb"
[ -z "$(ls -A "$empty")" ]
status=$?
expect check-created-nothing 0
run db allow 192.0.2.0/24 -c "$conf"
before=$(cksum <"$store/portcullis.mdb")
run check --ip 192.0.2.200 "${check_conf[@]}" --state.path="$store"
expect check-state 0 "^state \(lmdb $store\):$" "^  block: none$" "^    errors 0 \(limit 50\)$" \
    "^  allowlist: 192\.0\.2\.0/24 until " "^  greylist pass: none for 192\.0\.2\.0/24$" "!triplets"
run check --ip 192.0.2.200 --json "${check_conf[@]}" --state.path="$store"
value=$(json '(d["state"]["available"], d["state"]["allowlist"][0]["network"])')
[ "$value" = "(True, '192.0.2.0/24')" ]
status=$?
expect check-state-json 0
[ "$(cksum <"$store/portcullis.mdb")" = "$before" ]
status=$?
expect check-wrote-nothing 0
run check --ip 192.0.2.200 "${check_conf[@]}" --state.backend=redis \
    --state.redis=redis://127.0.0.1:1/0
expect check-redis-unreachable 0 "^state: not available: unavailable: reading block:192\.0\.2\.200: "

# --- files root creates go to the owner of state.path ----------------------
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
    owned=$work/owned
    mkdir "$owned"
    chown nobody "$owned"
    run db allow 192.0.2.1 -c "$conf" --state.path="$owned"
    expect root-allow 0 "^allowed 192\.0\.2\.1/32"
    [ "$(stat -c %U "$owned/portcullis.mdb" "$owned/portcullis.mdb-lock" | sort -u)" = nobody ]
    status=$?
    expect root-files-given-to-owner 0
fi

echo "db: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
