# shellcheck shell=bash
# shellcheck disable=SC2153 # DAEMON_PID, MILTER_PID: set by daemon_cases.sh and lib.sh
# The state store under faults, through the real daemon (issue 10):
# kill -9 in the middle of a burst of greylisting writes (LMDB), and a
# Redis server that stops or freezes while Postfix sessions run. Sourced
# by run.sh after lib.sh and daemon_cases.sh; run_memory_fault_cases runs
# them. Each case starts what it needs (a milter, a redis-server on
# 127.0.0.1 with a port of its own and its files under $WORK) and
# everything it started is stopped when it ends, passed or failed (its
# pids join DAEMON_PIDS, so that lib.sh's cleanup also stops them when a
# run is interrupted). Each prints one indented "figures:" line with what
# it measured.
# Drivers: memory_probe.py (milter protocol and SMTP).

MF_REDIS_PID=""
MF_LOOP_PID=""
MF_DRIVER_PID=""

mf_probe() { "$PYTHON" "$HERE/memory_probe.py" "$@"; }
mf_now() { date +%s.%N; }
# mf_elapsed FROM TO [SCALE]: TO - FROM in seconds (SCALE 1000: milliseconds).
mf_elapsed() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { printf "%.0f", (b - a) * s }'; }
mf_file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# mf_config FILE SOCKET LINE...: the harness configuration on SOCKET with
# whatever it says of state.*, greylist.* and limits.* replaced by the
# LINEs, each "section.option = value".
mf_config() {
    local file=$1 socket=$2 line
    shift 2
    write_milter_config "$file" "$socket"
    awk '/^\[/ { skip = ($0 ~ /^\[(state|greylist|limits)\]/) }
         !skip && !/^(state|greylist|limits)\./' "$file" >"$file.new"
    for line in "$@"; do
        printf '[%s]\n%s\n' "${line%%.*}" "${line#*.}" >>"$file.new"
    done
    mv "$file.new" "$file"
}

# mf_free_port: a TCP and UDP port free on 127.0.0.1, below the harness's
# random range (12000 and up, lib.sh's pick_ports, that of parallel groups
# too) and the kernel's ephemeral ports (32768 and up).
mf_free_port() {
    local port _
    for _ in $(seq 1 50); do
        port=$((10000 + RANDOM % 2000))
        # PORTCULLIS_IT_PORT_BASE may put the harness's eight down here.
        if [ "$port" -ge "$SMTP_PORT" ] && [ "$port" -le $((SMTP_PORT + 7)) ]; then continue; fi
        ports_free "$port" && { echo "$port"; return 0; }
    done
    return 1
}

mf_redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

# mf_redis_start PORT DIR: a redis-server of the case's own, in memory only.
mf_redis_start() {
    local port=$1 dir=$2
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize no >>"$dir/redis.out" 2>&1 &
    MF_REDIS_PID=$!
    DAEMON_PIDS="$DAEMON_PIDS $MF_REDIS_PID"
    wait_until 10 mf_redis_ping "$port" && return 0
    note "    redis-server on port $port did not answer:"
    note_file "$dir/redis.log"
    return 1
}

mf_redis_stop() {
    [ -n "$MF_REDIS_PID" ] || return 0
    kill -CONT "$MF_REDIS_PID" 2>/dev/null
    stop_pid "$MF_REDIS_PID" 5
    wait "$MF_REDIS_PID" 2>/dev/null
    MF_REDIS_PID=""
}

# mf_lines_at_least FILE N
mf_lines_at_least() { [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# mf_recovered SESSIONS TIME: a session of smtp-loop's SESSIONS file that
# started at TIME or later was greylisted.
mf_recovered() {
    awk -F'\t' -v t="$2" '$2 >= t && $4 ~ /^451 4\.7\.1 / { found = 1 } END { exit !found }' "$1"
}

# --- kill -9 with LMDB ------------------------------------------------------

# 4 connections x 6 sessions x 50 new recipients (1,200 first tries) over
# the milter protocol, greylist.delay = 1h; kill -9 once 300 replies have
# come back. Every triplet whose 451 reached the client must still be
# there after a restart on the same state.path: its retry gets the same
# "after <time>" (the time of the recorded first try + 1h), and the
# milter logs it as an early retry, never as a new triplet. The restart
# comes 1.1 s after the kill, so a forgotten triplet would name a later second.
case_mf_lmdb_kill9() {
    local conf=$WORK/mf-kill9.conf socket=$WORK/milter/mf-kill9.sock state=$WORK/mf-kill9-state
    local recorded=$WORK/transcripts/mf-kill9-recorded retried=$WORK/transcripts/mf-kill9-retried
    local run_out=$WORK/transcripts/mf-kill9-run check_out=$WORK/transcripts/mf-kill9-check
    local start killed count greylisted early new ok=0 first_log
    mkdir -p "$state"
    mf_config "$conf" "$socket" "state.backend = lmdb" "state.path = $state" \
        "greylist.mode = all" "greylist.delay = 1h"
    daemon_start mf-kill9 "$conf"
    first_log=$DAEMON_LOG
    daemon_wait_socket "$socket" || { note "    the milter did not start:"; note_file "$DAEMON_LOG"; return 1; }
    : >"$recorded"
    start=$(mf_now)
    mf_probe greylist-run "unix:$socket" "$recorded" 4 6 50 >"$run_out" 2>&1 &
    MF_DRIVER_PID=$!
    DAEMON_PIDS="$DAEMON_PIDS $MF_DRIVER_PID"
    if ! wait_until 60 mf_lines_at_least "$recorded" 300; then
        note "    fewer than 300 replies within 60 s:"
        note_file "$run_out"
        note_file "$DAEMON_LOG"
        return 1
    fi
    kill -KILL "$DAEMON_PID"
    killed=$(mf_now)
    # (2>/dev/null: no "Killed" note from bash when it reaps the milter)
    daemon_wait_exit 5 2>/dev/null || { note "    the milter outlived kill -9"; return 1; }
    wait "$MF_DRIVER_PID"
    MF_DRIVER_PID=""
    count=$(wc -l <"$recorded")
    greylisted=$(grep -c -E $'\treplycode 451[ -]4\\.7\\.1 Greylisted: ' "$recorded")
    if [ "$count" -ge 1200 ]; then
        note "    all 1200 replies came back before the kill: it did not land mid-run"
        ok=1
    fi
    if [ "$greylisted" -ne "$count" ]; then
        note "    $count replies recorded, only $greylisted the greylisted 451 4.7.1; others:"
        grep -v -E $'\treplycode 451[ -]4\\.7\\.1 Greylisted: ' "$recorded" | head -n 5 | sed 's/^/      /' >>"$CASE_NOTES"
        ok=1
    fi
    sleep 1.1
    daemon_start mf-kill9-restarted "$conf"
    daemon_wait_socket "$socket" || {
        note "    the milter did not restart on $state:"
        note_file "$DAEMON_LOG"
        return 1
    }
    if ! mf_probe greylist-retry "unix:$socket" "$recorded" "$retried" >"$check_out" 2>&1; then
        note "    retries after the restart:"
        note_file "$check_out"
        ok=1
    fi
    early=$(grep -c 'greylist-result=early' "$DAEMON_LOG")
    new=$(grep -c 'greylist-result=new' "$DAEMON_LOG")
    if [ "$early" -ne "$greylisted" ] || [ "$new" -ne 0 ]; then
        note "    restarted milter logged $early early retries and $new new triplets for $greylisted recorded ones"
        ok=1
    fi
    echo "    figures: $count replies recorded in $(mf_elapsed "$start" "$killed" 1000) ms before kill -9" \
        "(of 1200 asked; $(grep -c 'greylist-result=new' "$first_log") first tries logged by the" \
        "killed milter); after the restart $(sed -n 's/^checked=\([0-9]*\).*/\1/p' "$check_out") retried," \
        "$(sed -n 's/.* same=\([0-9]*\).*/\1/p' "$check_out") with the recorded retry time, $early logged as early retries, $new as new"
    return $ok
}

# --- Redis stopped or frozen ------------------------------------------------

# mf_redis_outage NAME SIGNAL ACTION: greylist.mode = all with Redis, a
# new triplet per session through Postfix (smtp-loop), greylist.delay =
# 1h, state.timeout = 250ms, breaker 3 failures / 2 s. After 3 sessions
# redis-server gets SIGNAL (TERM: stopped; STOP: frozen, the slow
# variant) for 5 s, then is started again on the same port (or gets
# CONT). Required:
# - before: every session's new triplet gets 451 4.7.1 greylisted;
# - during: every session completes (no error, no Postfix milter timeout
#   in the maillog) with greylist.on-store-error = ACTION: pass, the
#   recipient and the message are accepted; tempfail, 451 4.3.0
#   (rule state-error);
# - the milter logs the failure at least once and at most once per 2 s
#   from the stop to the recovery;
# - after: portcullis (the same process) greylists a new triplet again
#   within 20 s, its entry is in the Redis server, and every later
#   session is greylisted too (after a freeze, an answer meant for a call
#   that timed out must not be taken for a later call's).
mf_redis_outage() {
    local name=$1 signal=$2 action=$3
    local conf=$WORK/mf-$name.conf port dir=$WORK/mf-$name-redis
    local sessions=$WORK/transcripts/mf-$name-sessions stop=$WORK/mf-$name.stop
    local maillog=$WORK/postfix/maillog maillog_from log_from log_to
    local t_stop t_restart t_recovered t_log_from t_log_to analysis ok=0 failures allowed timeouts key serving_pid
    port=$(mf_free_port) || { note "    no free port for redis-server"; return 1; }
    mf_redis_start "$port" "$dir" || return 1
    mf_config "$conf" "$MILTER_SOCKET" "state.backend = redis" \
        "state.redis = redis://127.0.0.1:$port/0" "state.timeout = 250ms" \
        "state.breaker-failures = 3" "state.breaker-interval = 2s" "greylist.mode = all" \
        "greylist.delay = 1h" "greylist.on-store-error = $action"
    use_milter "$conf" || return 1
    serving_pid=$MILTER_PID
    maillog_from=$(mf_file_size "$maillog")
    rm -f "$stop"
    : >"$sessions"
    mf_probe smtp-loop "$SMTP_PORT" "$sessions" "$stop" "$name" >"$sessions.out" 2>&1 &
    MF_LOOP_PID=$!
    DAEMON_PIDS="$DAEMON_PIDS $MF_LOOP_PID"
    if ! wait_until 20 mf_lines_at_least "$sessions" 3; then
        note "    fewer than 3 sessions within 20 s:"
        note_file "$sessions"
        note_file "$sessions.out"
        return 1
    fi
    log_from=$(mf_file_size "$MILTER_LOG")
    t_log_from=$(mf_now)
    if [ "$signal" = TERM ]; then
        mf_redis_stop
    else
        kill -STOP "$MF_REDIS_PID"
    fi
    t_stop=$(mf_now)
    sleep 5
    t_restart=$(mf_now)
    if [ "$signal" = TERM ]; then
        mf_redis_start "$port" "$dir" || return 1
    else
        kill -CONT "$MF_REDIS_PID"
    fi
    wait_until 20 mf_recovered "$sessions" "$t_restart"
    log_to=$(mf_file_size "$MILTER_LOG")
    t_log_to=$(mf_now)
    # Five more sessions after the recovery, then stop the loop.
    local done_now
    done_now=$(wc -l <"$sessions")
    wait_until 10 mf_lines_at_least "$sessions" $((done_now + 5))
    touch "$stop"
    wait "$MF_LOOP_PID"
    MF_LOOP_PID=""

    # Sessions that ended before the signal went out, that ran wholly
    # between the server's end (or freeze) and its return, and that
    # started after its return; those in between are not judged.
    analysis=$("$PYTHON" - "$sessions" "$t_log_from" "$t_stop" "$t_restart" "$action" <<'EOF'
import sys
path, action = sys.argv[1], sys.argv[5]
t_signal, t_stop, t_restart = (float(x) for x in sys.argv[2:5])
rows = [line.rstrip("\n").split("\t") for line in open(path)]
problems, before, during, after = [], [], [], []
for n, start, end, rcpt, data, error in rows:
    start, end = float(start), float(end)
    if error != "-":
        problems.append(f"session {n} did not complete: {error}")
    if end < t_signal:
        before.append((n, end - start, rcpt, data))
    elif start > t_stop and end < t_restart:
        during.append((n, end - start, rcpt, data))
    elif start >= t_restart:
        after.append((n, end - start, rcpt, data, start, end))
if not before:
    problems.append("no session ended before the outage")
for n, _, rcpt, _ in before:
    if not rcpt.startswith("451 4.7.1 "):
        problems.append(f"before the outage, session {n}: RCPT '{rcpt}', wanted 451 4.7.1")
if len(during) < 3:
    problems.append(f"only {len(during)} sessions during the outage")
for n, _, rcpt, data in during:
    if action == "pass" and not (rcpt.startswith("250 ") and data.startswith("250 ")):
        problems.append(f"outage session {n}: RCPT '{rcpt}', DATA '{data}', wanted 250 and 250")
    if action == "tempfail" and not rcpt.startswith("451 4.3.0 "):
        problems.append(f"outage session {n}: RCPT '{rcpt}', wanted 451 4.3.0 (state-error)")
recovered = next((row for row in after if row[2].startswith("451 4.7.1 ")), None)
if recovered is None:
    problems.append(f"no session after the restart was greylisted: {after[:3]}")
else:
    # Every later triplet is new too: a pass would be a wrong (stale?) answer.
    for row in after[after.index(recovered):]:
        if not row[2].startswith("451 4.7.1 "):
            problems.append(f"after the recovery, session {row[0]}: RCPT '{row[2]}', wanted 451 4.7.1")
longest = max((row[1] for row in during), default=0)
print(f"during={len(during)} max_ms={longest * 1000:.0f} "
      f"recovered_at={recovered[5] if recovered else 0} "
      f"recovered_rcpt={recovered[0] if recovered else 0} "
      f"overall_max_ms={max(float(r[2]) - float(r[1]) for r in rows) * 1000:.0f} "
      f"sessions={len(rows)}")
for problem in problems[:8]:
    print("PROBLEM " + problem)
EOF
)
    if grep -q '^PROBLEM' <<<"$analysis"; then
        note "    sessions (n, start, end, RCPT reply, DATA reply, error):"
        grep '^PROBLEM' <<<"$analysis" | sed 's/^PROBLEM /      /' >>"$CASE_NOTES"
        note_file "$sessions"
        ok=1
    fi
    local during max_ms recovered_at recovered_n
    during=$(sed -n 's/.*during=\([0-9]*\).*/\1/p' <<<"$analysis")
    max_ms=$(sed -n 's/.* max_ms=\([0-9]*\).*/\1/p' <<<"$analysis")
    recovered_at=$(sed -n 's/.*recovered_at=\([0-9.]*\).*/\1/p' <<<"$analysis")
    recovered_n=$(sed -n 's/.*recovered_rcpt=\([0-9]*\).*/\1/p' <<<"$analysis")

    # At most one failure line per breaker interval (2 s): W seconds of log
    # (from just before the stop to just after the recovery) hold at most
    # W / 2 + 1 of them.
    failures=$(tail -c +$((log_from + 1)) "$MILTER_LOG" | head -c $((log_to - log_from)) |
        grep -c 'state store failed')
    t_recovered=${recovered_at:-0}
    [ "${t_recovered%.*}" -gt 0 ] || t_recovered=$(mf_now)
    allowed=$(($(mf_elapsed "$t_log_from" "$t_log_to" 1000) / 2000 + 1))
    if [ "$failures" -lt 1 ] || [ "$failures" -gt "$allowed" ]; then
        note "    $failures 'state store failed' lines in $(mf_elapsed "$t_log_from" "$t_log_to" 1000) ms from the stop to the recovery, wanted 1..$allowed:"
        note_file "$MILTER_LOG" 'state store failed'
        ok=1
    fi
    if [ "$action" = tempfail ]; then
        expect_log 'rule=state-error' || ok=1
    fi
    timeouts=$(tail -c +$((maillog_from + 1)) "$maillog" | grep -i 'milter' | grep -i -c -E 'timeout|timed out')
    if [ "$timeouts" -ne 0 ]; then
        note "    Postfix logged milter timeouts:"
        tail -c +$((maillog_from + 1)) "$maillog" | grep -i 'milter' | grep -i -E 'timeout|timed out' |
            head -n 5 | sed 's/^/      /' >>"$CASE_NOTES"
        ok=1
    fi
    if [ "$MILTER_PID" != "$serving_pid" ] || ! kill -0 "$serving_pid" 2>/dev/null; then
        note "    portcullis did not survive the outage (pid $serving_pid)"
        ok=1
    fi
    # The recovered triplet's entry is in the Redis server.
    if [ -n "$recovered_n" ] && [ "$recovered_n" != 0 ]; then
        key=$(redis-cli -h 127.0.0.1 -p "$port" --scan --pattern "portcullis:grey:*|$name-$recovered_n@dest.test" 2>&1)
        if [ -z "$key" ]; then
            note "    no portcullis:grey:*|$name-$recovered_n@dest.test key in Redis after the recovery"
            ok=1
        fi
    fi
    echo "    figures: $during sessions during a ${signal} outage of $(mf_elapsed "$t_stop" "$t_restart" 1000) ms," \
        "longest $max_ms ms; $failures failure log lines in $(mf_elapsed "$t_log_from" "$t_log_to" 1000) ms" \
        "(at most $allowed allowed);" \
        "recovered $(mf_elapsed "$t_restart" "$t_recovered" 1000) ms after redis-server was back" \
        "(end of the first greylisted session); $timeouts Postfix milter timeouts"
    return $ok
}

case_mf_redis_stopped() { mf_redis_outage redis-stopped TERM pass; }
case_mf_redis_frozen() { mf_redis_outage redis-frozen STOP pass; }
case_mf_redis_stopped_tempfail() { mf_redis_outage redis-stopped-tempfail TERM tempfail; }

MF_CASE=""
run_mf_case() {
    "$MF_CASE"
    local status=$?
    [ -n "$MF_DRIVER_PID" ] && { stop_pid "$MF_DRIVER_PID" 2; MF_DRIVER_PID=""; }
    [ -n "$MF_LOOP_PID" ] && { stop_pid "$MF_LOOP_PID" 2; MF_LOOP_PID=""; }
    mf_redis_stop
    daemon_stop_all
    stop_milter
    return $status
}

run_memory_fault_cases() {
    local entry
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        echo "integration: redis-server or redis-cli missing; the memory-fault-redis cases fail" >&2
    fi
    for entry in \
        memory-fault-lmdb-kill9:case_mf_lmdb_kill9 \
        memory-fault-redis-stopped:case_mf_redis_stopped \
        memory-fault-redis-frozen:case_mf_redis_frozen \
        memory-fault-redis-stopped-tempfail:case_mf_redis_stopped_tempfail; do
        MF_CASE=${entry#*:}
        run_case "${entry%%:*}" run_mf_case
    done
}
