#!/usr/bin/env bash
# Golden-output test of `portcullis check --json`: runs every scenario of
# tests/golden/scenarios with BUILD_DIR/milter/portcullis and compares its
# standard output byte for byte with expected/NAME.json (and its exit
# status with expected/NAME.status, present only when it is not 0).
#
#   tests/golden/run.sh [--update] BUILD_DIR [NAME_REGEX]
#
# Prints `golden NAME: ok` or a unified diff per scenario, then
# `golden: N passed, M failed`; exits 1 if any failed, 2 on a usage or
# setup problem. --update rewrites the expected files from this build
# instead (for a deliberate change: review the diff before committing).
#
# DNS is world.conf (libunbound local data). The names world.conf leaves
# to the forwarder go to a loopback port that never answers
# (tests/integration/dns_blackhole.py), started here and stopped on exit.
# Nothing else is contacted. Then a few refusals again, with the replies
# file that `portcullis rules --replies` prints: the same output.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

usage() {
    echo "usage: $0 [--update] BUILD_DIR [NAME_REGEX]" >&2
    exit 2
}

update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
binary=$(cd "$1" 2>/dev/null && pwd)/milter/portcullis
filter=${2:-}
[ -x "$binary" ] || { echo "golden: no $1/milter/portcullis" >&2; exit 2; }

work=$(mktemp -d)
blackhole_pid=""
cleanup() {
    if [ -n "$blackhole_pid" ] && kill -0 "$blackhole_pid" 2>/dev/null; then
        kill -TERM "$blackhole_pid" 2>/dev/null
        wait "$blackhole_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The silent forwarder, on a random port; another port if that one is taken.
start_blackhole() {
    local _
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))
        "$PYTHON" "$HERE/../integration/dns_blackhole.py" 127.0.0.1 "$port" \
            >"$work/blackhole.log" 2>&1 &
        blackhole_pid=$!
        for _ in $(seq 1 200); do
            grep -q '^listening' "$work/blackhole.log" && return 0
            kill -0 "$blackhole_pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -TERM "$blackhole_pid" 2>/dev/null
        wait "$blackhole_pid" 2>/dev/null
        blackhole_pid=""
    done
    echo "golden: cannot start the silent DNS forwarder" >&2
    cat "$work/blackhole.log" >&2
    return 1
}
start_blackhole || exit 2

passed=0
failed=0
argv=()
declare -A seen=()
line_number=0
while IFS= read -r line || [ -n "$line" ]; do
    line_number=$((line_number + 1))
    [[ -z $line || $line == \#* ]] && continue
    if [[ $line != *$'\t'* ]]; then
        echo "golden: scenarios:$line_number: expected NAME<TAB>ARGUMENTS"
        failed=$((failed + 1))
        continue
    fi
    name=${line%%$'\t'*}
    arguments=${line#*$'\t'}
    if [ -n "${seen[$name]:-}" ] || ! [[ $name =~ ^[A-Za-z0-9._-]+$ ]]; then
        echo "golden: scenarios:$line_number: '$name' is a duplicate or not a file name"
        failed=$((failed + 1))
        continue
    fi
    seen[$name]=1
    if [ -n "$filter" ] && ! [[ $name =~ $filter ]]; then
        continue
    fi
    if ! eval "argv=($arguments)" 2>"$work/parse.err"; then
        echo "golden $name: cannot parse the arguments: $(cat "$work/parse.err")"
        failed=$((failed + 1))
        continue
    fi
    actual=$work/$name.json
    timeout 60 "$binary" check -c "$HERE/portcullis.conf" \
        "--resolver.forward=127.0.0.1@$port" "${argv[@]}" --json >"$actual" 2>"$work/$name.err"
    status=$?
    expected=$HERE/expected/$name.json
    expected_status_file=$HERE/expected/$name.status

    if [ "$update" -eq 1 ]; then
        mkdir -p "$HERE/expected"
        cp "$actual" "$expected"
        if [ "$status" -ne 0 ]; then
            echo "$status" >"$expected_status_file"
        else
            rm -f "$expected_status_file"
        fi
        if [ "$status" -ne 0 ]; then
            echo "golden $name: updated (exit status $status)"
        else
            echo "golden $name: updated"
        fi
        passed=$((passed + 1))
        continue
    fi

    expected_status=0
    [ -f "$expected_status_file" ] && expected_status=$(cat "$expected_status_file")
    if [ ! -f "$expected" ]; then
        echo "golden $name: FAILED, no expected/$name.json (run with --update to create it)"
        failed=$((failed + 1))
    elif cmp -s "$expected" "$actual" && [ "$status" = "$expected_status" ]; then
        echo "golden $name: ok"
        passed=$((passed + 1))
    else
        echo "golden $name: FAILED"
        [ "$status" = "$expected_status" ] ||
            echo "exit status $status, expected $expected_status"
        diff -u --label "expected/$name.json" --label "actual/$name.json" "$expected" "$actual"
        if [ -s "$work/$name.err" ]; then
            echo "standard error:"
            sed 's/^/    /' "$work/$name.err"
        fi
        failed=$((failed + 1))
    fi
done <"$HERE/scenarios"

# `portcullis rules --replies` prints the built-in replies as a replies
# file: used as replies-file, refusals must come out exactly the same.
if [ "$update" -eq 0 ] && [ -z "$filter" ]; then
    replies=$work/builtin-replies.conf
    if ! "$binary" rules --replies >"$replies" 2>"$work/rules.err"; then
        echo "golden rules-replies: FAILED, portcullis rules --replies: $(cat "$work/rules.err")"
        failed=$((failed + 1))
    else
        for name in rdns-missing dnsbl-listed helo-changed spf-fail rhsbl-client-name \
            rdns-ptr-timeout score-reject; do
            line=$(grep -m1 "^$name"$'\t' "$HERE/scenarios") || continue
            eval "argv=(${line#*$'\t'})"
            timeout 60 "$binary" check -c "$HERE/portcullis.conf" \
                "--resolver.forward=127.0.0.1@$port" "--replies-file=$replies" "${argv[@]}" \
                --json >"$work/replies-$name.json" 2>&1
            if cmp -s "$HERE/expected/$name.json" "$work/replies-$name.json"; then
                echo "golden rules-replies $name: ok"
                passed=$((passed + 1))
            else
                echo "golden rules-replies $name: FAILED"
                diff -u --label "expected/$name.json" --label "with the printed replies" \
                    "$HERE/expected/$name.json" "$work/replies-$name.json"
                failed=$((failed + 1))
            fi
        done
    fi
fi

# An expected file without its scenario is a scenario lost by mistake.
if [ -z "$filter" ]; then
    for file in "$HERE"/expected/*.json; do
        [ -e "$file" ] || continue
        name=$(basename "$file" .json)
        [ -n "${seen[$name]:-}" ] && continue
        if [ "$update" -eq 1 ]; then
            rm -f "$file" "$HERE/expected/$name.status"
            echo "golden $name: removed (no such scenario)"
        else
            echo "golden $name: FAILED, expected/$name.json has no scenario"
            failed=$((failed + 1))
        fi
    done
fi

echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
