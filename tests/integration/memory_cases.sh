# shellcheck shell=bash
# Memory across sessions (issue 10): greylisting and the abuse counters,
# through Postfix, once over LMDB and once over Redis. Sourced by run.sh
# after lib.sh, cases.sh and daemon_cases.sh (now_ms); run_memory_cases
# runs them. Every case starts a milter of its own with a fresh store (an
# LMDB directory of its own configuration, or a Redis emptied with
# FLUSHALL), so nothing one case remembers reaches another; case names end
# in the backend (greylist-first-try-lmdb, greylist-first-try-redis).
#
# The Redis cases share one redis-server on 127.0.0.1:REDIS_PORT (no
# persistence, its directory under $WORK), started by the first of them
# and stopped by cleanup. The cases of two instances on one store
# (shared-*-redis) start a second milter on MILTER_SOCKET_B, behind the
# second smtpd of the private Postfix (SMTP_B_PORT).
#
# Clients (see zones/): 198.51.100.20-.40, .60-.70 have no PTR and send as
# someone@nospf.test (MX, no SPF: origin = their /24); 192.0.2.51
# out1.bulkmail.test and 198.51.100.52 out2.bulkmail.test are one sending
# platform (confirmed PTRs, origin d:bulkmail.test); 192.0.2.10
# good.example.test (confirmed, SPF pass for @example.test); 192.0.2.30 no
# PTR; 192.0.2.99 in trusted-networks. policy.rdns-missing is log here, so
# that clients without PTR get as far as greylisting. Waits are short:
# greylist.delay = 3s, limits.block-time = 3s.

MEMORY_BACKEND=""
MEMORY_CASE=""
MEMORY_B_PID=""
MEMORY_B_LOG=""
NOSPF_FROM=sender@nospf.test
GREYLIST_ALL=('greylist.mode = all' 'greylist.delay = 3s')
# The reply's second line: "please retry in 3 seconds (after 2026-... UTC)."
RETRY_TEXT='retry in [1-3] seconds? \(after [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC\)'

# set_options FILE LINE...: each "name = value" LINE replaces what FILE
# sets for that name, at the top of the file or, for a dotted name
# section.key, as key under [section]; the LINEs go before the first
# section header.
set_options() {
    local file=$1 line name
    shift
    for line in "$@"; do
        name=${line%% =*}
        awk -v name="$name" '
            /^\[/ { section = substr($0, 2, index($0, "]") - 2) }
            { key = $0; sub(/ *=.*/, "", key) }
            (section == "" && key == name) || (section != "" && section "." key == name) { next }
            { print }' "$file" >"$file.new" && mv "$file.new" "$file"
    done
    { printf '%s\n' "$@"; cat "$file"; } >"$file.new" && mv "$file.new" "$file"
}

# memory_config NAME [LINE...]: writes $WORK/memory-NAME-BACKEND.conf, the
# harness configuration over MEMORY_BACKEND, on MEMORY_SOCKET (default:
# MILTER_SOCKET), with policy.rdns-missing = log and then LINEs set
# (set_options); prints its path.
memory_config() {
    local conf=$WORK/memory-$1-$MEMORY_BACKEND.conf
    shift
    write_milter_config "$conf" "${MEMORY_SOCKET:-$MILTER_SOCKET}"
    set_options "$conf" "state.backend = $MEMORY_BACKEND" \
        "state.redis = redis://127.0.0.1:$REDIS_PORT/0" 'policy.rdns-missing = log' "$@"
    echo "$conf"
}

# memory_start_b CONFIG: the second milter, on MILTER_SOCKET_B (the socket
# CONFIG names), for the smtpd on SMTP_B_PORT.
memory_start_b() {
    local _
    memory_stop_all
    MEMORY_B_LOG=$WORK/milter-b-$MILTER_STARTS.log
    rm -f "$MILTER_SOCKET_B"
    fresh_state "$1"
    "$MILTER_BIN" -f -c "$1" >"$MEMORY_B_LOG" 2>&1 &
    MEMORY_B_PID=$!
    for _ in $(seq 1 100); do
        [ -S "$MILTER_SOCKET_B" ] && break
        kill -0 "$MEMORY_B_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$MILTER_SOCKET_B" ]; then
        note "    the second milter did not create $MILTER_SOCKET_B; its log:"
        note_file "$MEMORY_B_LOG"
        return 1
    fi
    chmod 0666 "$MILTER_SOCKET_B"
}

memory_stop_all() {
    stop_pid "$MEMORY_B_PID" 10
    MEMORY_B_PID=""
}

# sleep_until MS: sleeps until now_ms reaches MS.
sleep_until() {
    local left=$(($1 - $(now_ms)))
    [ "$left" -gt 0 ] && sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
    return 0
}

# no_log_line PATTERN [FILE]: no line of the milter log matches PATTERN.
no_log_line() {
    local file=${2:-$MILTER_LOG}
    grep -a -q -E -- "$1" "$file" 2>/dev/null || return 0
    note "    the milter log has a line matching /$1/:"
    note_file "$file" "$1"
    return 1
}

# closed_after FILE COMMAND_PREFIX: the server closed the connection on its
# reply to COMMAND (the command sent next got no answer).
closed_after() {
    if grep -a -q '^\*\*\* connection closed by server' "$1"; then return 0; fi
    note "    the server did not close the connection after '$2':"
    note_transcript "$1"
    return 1
}

# --- greylisting -------------------------------------------------------

# greylist_try NAME ADDR [FROM [TO [PTR_NAME]]]: one session up to RCPT from
# ADDR (no PTR unless PTR_NAME), HELO mail.nospf.test.
greylist_try() {
    local name=$1 addr=$2 from=${3:-$NOSPF_FROM} to=${4:-$TO} ptr=${5:-[UNAVAILABLE]}
    smtp "$name-$MEMORY_BACKEND" "$addr" "$ptr" mail.nospf.test "$from" "$to"
}

# First try: 451 4.7.1 naming the client and the retry time.
case_greylist_first_try() {
    local conf
    conf=$(memory_config greylist-first-try "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_try grey-first 198.51.100.20
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 'Greylisted: 198\.51\.100\.20 ' &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 "$RETRY_TEXT" &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 greylisted || return 1
    expect_log 'client=198\.51\.100\.20 .*rule=greylisted action=tempfail code="451 4\.7\.1".* greylist="198\.51\.100\.0/24" trigger=all greylist-result=new' &&
        milter_alive
}

# A retry before greylist.delay: 451 again.
case_greylist_early_retry() {
    local conf start elapsed
    conf=$(memory_config greylist-early-retry "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    start=$(now_ms)
    greylist_try grey-early-first 198.51.100.21
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 || return 1
    greylist_try grey-early-retry 198.51.100.21
    elapsed=$(($(now_ms) - start))
    if [ "$elapsed" -ge 3000 ]; then
        note "    the retry ended ${elapsed} ms after the first try began: not before the delay (3s)"
        return 1
    fi
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 "$RETRY_TEXT" || return 1
    expect_log 'client=198\.51\.100\.21 .*rule=greylisted .*greylist-result=early' && milter_alive
}

# greylist_passed NAME ADDR [FROM [TO [PTR_NAME]]]: a first try (451) from
# ADDR, then a retry after the delay from the same address, accepted.
# Sets GREYLIST_FIRST_END (ms) to the end of the first try.
greylist_passed() {
    local name=$1 addr=$2
    shift 2
    greylist_try "$name-first" "$addr" "$@"
    GREYLIST_FIRST_END=$(now_ms)
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 || return 1
    sleep_until $((GREYLIST_FIRST_END + 3300))
    greylist_try "$name-retry" "$addr" "$@"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_log "client=${addr//./\\.} .*greylist-result=\"retry passed\""
}

# A retry after greylist.delay: 250.
case_greylist_retry_after_delay() {
    local conf
    conf=$(memory_config greylist-retry-after-delay "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_passed grey-delay 198.51.100.22 && milter_alive
}

# Once an origin passed, a second message from the same /24 (another
# address, sender and recipient) passes at once.
case_greylist_same_network_passes() {
    local conf
    conf=$(memory_config greylist-same-network "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_passed grey-network 198.51.100.23 || return 1
    greylist_try grey-network-second 198.51.100.24 other@nospf.test user2@dest.test
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<user2@dest.test>' 250 || return 1
    expect_log 'client=198\.51\.100\.24 .*greylist="198\.51\.100\.0/24" trigger=all greylist-result="origin passed' &&
        milter_alive
}

# A provider retrying from another address of its platform, in another
# /24: both names are confirmed and share the organisational domain
# bulkmail.test, the origin of the triplet.
case_greylist_pool_retry() {
    local conf first_end
    conf=$(memory_config greylist-pool "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_try grey-pool-first 192.0.2.51 "$NOSPF_FROM" "$TO" out1.bulkmail.test
    first_end=$(now_ms)
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 || return 1
    expect_log 'client=192\.0\.2\.51 .*rule=greylisted .*greylist="d:bulkmail\.test" trigger=all greylist-result=new' ||
        return 1
    sleep_until $((first_end + 3300))
    greylist_try grey-pool-retry 198.51.100.52 "$NOSPF_FROM" "$TO" out2.bulkmail.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_log 'client=198\.51\.100\.52 .*greylist="d:bulkmail\.test" trigger=all greylist-result="retry passed"' &&
        milter_alive
}

# postmaster@ (exempt-recipients) is never greylisted, on a first try and
# again, while the same client's other recipient is.
case_greylist_postmaster_exempt() {
    local conf
    conf=$(memory_config greylist-postmaster "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_try grey-postmaster 198.51.100.30 "$NOSPF_FROM" "postmaster@dest.test,$TO"
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<postmaster@dest.test>' 250 &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 greylisted || return 1
    greylist_try grey-postmaster-again 198.51.100.30 "$NOSPF_FROM" postmaster@dest.test
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<postmaster@dest.test>' 250 || return 1
    no_log_line 'client=198\.51\.100\.30 .*rcpt=<?postmaster@dest\.test.*greylist' && milter_alive
}

# A client in trusted-networks is never greylisted.
case_greylist_trusted_client() {
    local conf
    conf=$(memory_config greylist-trusted "${GREYLIST_ALL[@]}")
    use_milter "$conf" || return 1
    greylist_try grey-trusted 192.0.2.99
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    greylist_try grey-trusted-again 192.0.2.99
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_log 'client=192\.0\.2\.99 .*trusted' && no_log_line 'client=192\.0\.2\.99 .*greylist' &&
        milter_alive
}

# greylist.mode = suspicious: forward-confirmed rDNS and an SPF pass,
# nothing suspicious, no greylisting.
case_greylist_suspicious_clean_passes() {
    local conf
    conf=$(memory_config greylist-suspicious-clean 'greylist.mode = suspicious' 'greylist.delay = 3s')
    use_milter "$conf" || return 1
    smtp "grey-suspicious-clean-$MEMORY_BACKEND" 192.0.2.10 good.example.test good.example.test \
        "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_log 'client=192\.0\.2\.10 ' && no_log_line 'client=192\.0\.2\.10 .*greylist' && milter_alive
}

# greylist.mode = suspicious: no PTR (rdns-missing = log) is a trigger.
case_greylist_suspicious_no_ptr() {
    local conf
    conf=$(memory_config greylist-suspicious-no-ptr 'greylist.mode = suspicious' 'greylist.delay = 3s')
    use_milter "$conf" || return 1
    smtp "grey-suspicious-no-ptr-$MEMORY_BACKEND" 192.0.2.30 '[UNAVAILABLE]' host30.example.test \
        "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 greylisted || return 1
    expect_log 'client=192\.0\.2\.30 .*rule=greylisted .*trigger=no-fcrdns greylist-result=new' &&
        milter_alive
}

# --- abuse counters ----------------------------------------------------

COUNTER_LIMITS=('limits.rejected-recipients = 20' 'limits.block-time = 3s')

# refused_session NAME ADDR: one session from ADDR in which Postfix refuses
# 25 recipients (relay attempts, unknown local users: portcullis sees them
# through SMFIP_RCPT_REJ), then one valid RCPT: Postfix ignores a milter's
# answer for a recipient it refused itself, so the block shows there.
refused_session() {
    local commands=() i
    for i in $(seq 1 25); do
        if [ $((i % 2)) -eq 1 ]; then
            commands+=("RCPT TO:<someone$i@outside.test>")
        else
            commands+=("RCPT TO:<unknown$i@dest.test>")
        fi
    done
    smtp_dialogue "$1-$MEMORY_BACKEND" 'EHLO localhost' "XCLIENT ADDR=$2 NAME=[UNAVAILABLE]" \
        'EHLO mail.nospf.test' "MAIL FROM:<$NOSPF_FROM>" "${commands[@]}" "$RCPT" 'QUIT'
}

# expect_refused_session FILE ADDR: Postfix refused the recipients itself,
# the valid RCPT got the counter's 421 and the connection closed.
expect_refused_session() {
    expect_reply "$1" 'RCPT TO:<someone1@outside.test>' 554 5.7.1 'Relay access denied' &&
        expect_reply "$1" 'RCPT TO:<unknown2@dest.test>' 550 5.1.1 'User unknown' &&
        expect_reply "$1" 'RCPT TO:<someone25@outside.test>' 554 5.7.1 'Relay access denied' &&
        expect_reply "$1" "$RCPT" 421 4.7.0 \
            "Excessive unknown recipients from ${2//./\\.} - possible open relay" &&
        expect_reply "$1" "$RCPT" 421 4.7.0 too-many-rejected-recipients &&
        closed_after "$1" "$RCPT"
}

# blocked_session NAME ADDR: a new connection from ADDR, which must get
# the block's 421 at its first command after XCLIENT (EHLO).
blocked_session() {
    smtp_dialogue "$1-$MEMORY_BACKEND" 'EHLO localhost' "XCLIENT ADDR=$2 NAME=[UNAVAILABLE]" \
        'EHLO mail.nospf.test' "MAIL FROM:<$NOSPF_FROM>" "$RCPT" 'QUIT'
    expect_reply "$LAST_TRANSCRIPT" 'EHLO mail.nospf.test' 421 4.7.0 too-many-rejected-recipients &&
        closed_after "$LAST_TRANSCRIPT" 'EHLO mail.nospf.test'
}

# 25 recipients refused by Postfix in one session: 421 4.7.0 at the next
# RCPT, the limit (20) logged.
case_limits_rejected_recipients() {
    local conf
    conf=$(memory_config limits-rejected "${COUNTER_LIMITS[@]}")
    use_milter "$conf" || return 1
    refused_session limits-rejected 198.51.100.40
    expect_refused_session "$LAST_TRANSCRIPT" 198.51.100.40 || return 1
    expect_log 'client=198\.51\.100\.40 stage=rcpt rule=too-many-rejected-recipients action=tempfail code="421 4\.7\.0" why="21 rejected-recipients within 1h, limit 20; blocked until' &&
        milter_alive
}

# The next connection from the blocked address: 421 at EHLO.
case_limits_block_next_connection() {
    local conf start elapsed
    conf=$(memory_config limits-next-connection "${COUNTER_LIMITS[@]}")
    use_milter "$conf" || return 1
    start=$(now_ms)
    refused_session limits-next-first 198.51.100.41
    expect_refused_session "$LAST_TRANSCRIPT" 198.51.100.41 || return 1
    if ! blocked_session limits-next-blocked 198.51.100.41; then
        elapsed=$(($(now_ms) - start))
        [ "$elapsed" -ge 3000 ] &&
            note "    (the sessions took ${elapsed} ms: the 3 s block may have run out)"
        return 1
    fi
    expect_log 'client=198\.51\.100\.41 stage=helo rule=too-many-rejected-recipients action=tempfail code="421 4\.7\.0"' &&
        milter_alive
}

# After limits.block-time (3s) the address is served again.
case_limits_block_expires() {
    local conf end
    conf=$(memory_config limits-block-expires "${COUNTER_LIMITS[@]}")
    use_milter "$conf" || return 1
    refused_session limits-expires-first 198.51.100.42
    end=$(now_ms)
    expect_refused_session "$LAST_TRANSCRIPT" 198.51.100.42 || return 1
    blocked_session limits-expires-blocked 198.51.100.42 || return 1
    sleep_until $((end + 3300))
    smtp "limits-expires-again-$MEMORY_BACKEND" 198.51.100.42 '[UNAVAILABLE]' mail.nospf.test \
        "$NOSPF_FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" 'EHLO mail.nospf.test' 250 &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

# --- two instances on one Redis ------------------------------------------

# shared_instances NAME LINE...: milter A (MILTER_SOCKET, smtpd on
# SMTP_PORT) and milter B (MILTER_SOCKET_B, smtpd on SMTP_B_PORT), both
# with LINEs, over the same Redis.
shared_instances() {
    local name=$1 conf_a conf_b
    shift
    conf_a=$(memory_config "$name-a" "$@")
    conf_b=$(MEMORY_SOCKET=$MILTER_SOCKET_B memory_config "$name-b" "$@")
    use_milter "$conf_a" && memory_start_b "$conf_b"
}

# A greylisting first try through A, the retry through B after the delay:
# accepted, and the origin's pass that B wrote lets A accept the network's
# next message at once.
case_shared_greylist() {
    local first_end
    shared_instances shared-greylist "${GREYLIST_ALL[@]}" || return 1
    greylist_try shared-grey-first-a 198.51.100.60
    first_end=$(now_ms)
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.1 || return 1
    sleep_until $((first_end + 3300))
    SMTP_SERVER_PORT=$SMTP_B_PORT greylist_try shared-grey-retry-b 198.51.100.60
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_log 'client=198\.51\.100\.60 .*greylist-result="retry passed"' "$MEMORY_B_LOG" || return 1
    greylist_try shared-grey-next-a 198.51.100.61 other@nospf.test user2@dest.test
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<user2@dest.test>' 250 || return 1
    expect_log 'client=198\.51\.100\.61 .*greylist-result="origin passed' && milter_alive
}

# A block set through A is enforced by B. (A block of 10 s: this case
# waits for no expiry, and a slow machine must not see it run out.)
case_shared_block() {
    local keys
    shared_instances shared-block 'limits.rejected-recipients = 20' 'limits.block-time = 10s' ||
        return 1
    refused_session shared-block-a 198.51.100.70
    expect_refused_session "$LAST_TRANSCRIPT" 198.51.100.70 || return 1
    keys=$(redis_cli --scan --pattern '*block:198.51.100.70' 2>&1)
    if [ -z "$keys" ]; then
        note "    no block:198.51.100.70 key in Redis after A's block; keys there:"
        redis_cli --scan | head -n 20 | sed 's/^/      /' >>"$CASE_NOTES"
        return 1
    fi
    SMTP_SERVER_PORT=$SMTP_B_PORT blocked_session shared-block-b 198.51.100.70 || return 1
    expect_log 'client=198\.51\.100\.70 stage=helo rule=too-many-rejected-recipients action=tempfail' \
        "$MEMORY_B_LOG" && milter_alive
}

# --- running them ------------------------------------------------------

# One case: a fresh Redis when the backend is redis; both milters stopped
# after it, passed or failed.
memory_run_case() {
    local status
    if [ "$MEMORY_BACKEND" = redis ]; then
        if ! start_redis; then
            note "    redis-server did not start on 127.0.0.1:$REDIS_PORT:"
            note_file "$WORK/redis/redis.out"
            note_file "$WORK/redis/redis.log"
            return 1
        fi
        if [ "$(redis_cli flushall 2>&1)" != OK ]; then
            note "    FLUSHALL failed on 127.0.0.1:$REDIS_PORT"
            return 1
        fi
    fi
    "$MEMORY_CASE"
    status=$?
    memory_stop_all
    stop_milter
    return $status
}

run_memory_cases() {
    local backend entry
    for backend in lmdb redis; do
        case_section "memory-$backend"
        MEMORY_BACKEND=$backend
        for entry in \
            greylist-first-try:case_greylist_first_try \
            greylist-early-retry:case_greylist_early_retry \
            greylist-retry-after-delay:case_greylist_retry_after_delay \
            greylist-same-network-passes:case_greylist_same_network_passes \
            greylist-pool-retry:case_greylist_pool_retry \
            greylist-postmaster-exempt:case_greylist_postmaster_exempt \
            greylist-trusted-client:case_greylist_trusted_client \
            greylist-suspicious-clean-passes:case_greylist_suspicious_clean_passes \
            greylist-suspicious-no-ptr:case_greylist_suspicious_no_ptr \
            limits-rejected-recipients:case_limits_rejected_recipients \
            limits-block-next-connection:case_limits_block_next_connection \
            limits-block-expires:case_limits_block_expires; do
            MEMORY_CASE=${entry#*:}
            run_case "${entry%%:*}-$backend" memory_run_case
        done
    done
    MEMORY_BACKEND=redis
    for entry in \
        shared-greylist:case_shared_greylist \
        shared-block:case_shared_block; do
        MEMORY_CASE=${entry#*:}
        run_case "${entry%%:*}-redis" memory_run_case
    done
}
