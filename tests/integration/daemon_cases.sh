# shellcheck shell=bash
# The daemon's own cases: signals, shutdown, the PID file, a second
# instance, privileges and file descriptors. Sourced by run.sh after
# lib.sh; run_daemon_cases runs them. Each case starts milters of its own
# (daemon_start) on sockets of its own under $WORK/milter, talks to them
# with daemon_probe.py (milter protocol, no Postfix), and every milter it
# started is stopped when it ends, passed or failed.

DAEMON_PIDS=""
DAEMON_PID=""
DAEMON_LOG=""
DAEMON_STATUS=""

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# daemon_config NAME [LINE...]: writes $WORK/daemon-NAME.conf, the harness
# configuration on socket $WORK/milter/NAME.sock (PID file: the
# configuration's name + .pid) with each "option = value" LINE replacing
# the harness's line for that option; prints its path.
daemon_config() {
    local name=$1 conf=$WORK/daemon-$1.conf line
    shift
    write_milter_config "$conf" "$WORK/milter/$name.sock"
    for line in "$@"; do
        sed -i "/^${line%% =*} = /d" "$conf"
    done
    {
        [ $# -gt 0 ] && printf '%s\n' "$@"
        cat "$conf"
    } >"$conf.new" && mv "$conf.new" "$conf"
    echo "$conf"
}

# daemon_start NAME CONFIG [LAUNCHER...]: the milter in the foreground mode,
# under LAUNCHER if given (prlimit ...: it execs the milter, keeping the
# PID), logging to $WORK/daemon-NAME.log. Sets DAEMON_PID and DAEMON_LOG.
daemon_start() {
    local name=$1 config=$2
    shift 2
    DAEMON_LOG=$WORK/daemon-$name.log
    "$@" "$MILTER_BIN" -f -c "$config" >"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    DAEMON_PIDS="$DAEMON_PIDS $DAEMON_PID"
}

# daemon_wait_socket SOCKET: 0 once SOCKET exists and DAEMON_PID runs; 1 if
# the process exited first or 5 s passed.
daemon_wait_socket() {
    local _
    for _ in $(seq 1 100); do
        kill -0 "$DAEMON_PID" 2>/dev/null || return 1
        [ -S "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# daemon_wait_exit SECONDS: 0 once DAEMON_PID has exited (status in
# DAEMON_STATUS), 1 if it still runs after SECONDS.
daemon_wait_exit() {
    local _
    for _ in $(seq 1 $(($1 * 50))); do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" 2>/dev/null # no "Killed" note for a SIGKILL
            DAEMON_STATUS=$?
            return 0
        fi
        sleep 0.02
    done
    return 1
}

daemon_stop_all() {
    local pid
    for pid in $DAEMON_PIDS; do stop_pid "$pid" 10; done
    DAEMON_PIDS=""
}

probe() { "$PYTHON" "$HERE/daemon_probe.py" "$@"; }

# serves SOCKET WHAT: one milter session up to RCPT must be answered.
serves() {
    local out
    out=$(probe serves "unix:$1" 2>&1) && return 0
    note "    $2: $out"
    return 1
}

uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# --- signals -----------------------------------------------------------

# SIGHUP bursts: 4 within 0.3 s, 20 within 0.2 s, 50 back to back. After
# each the milter still runs and serves, having reloaded at least once and
# at most once per signal; only SIGTERM stops it.
case_defect_sighup_burst() {
    local conf socket=$WORK/milter/hup.sock burst reloads sent=0
    conf=$(daemon_config hup)
    daemon_start hup "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    for burst in "4 0.3" "20 0.2" "50 0"; do
        # shellcheck disable=SC2086 # COUNT SECONDS
        probe hup "$DAEMON_PID" $burst
        sent=$((sent + ${burst% *}))
        sleep 1
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            note "    exited after a burst of SIGHUPs (count, seconds: $burst); log:"
            note_file "$DAEMON_LOG"
            return 1
        fi
        serves "$socket" "after a burst of SIGHUPs (count, seconds: $burst)" ||
            { note_file "$DAEMON_LOG"; return 1; }
    done
    reloads=$(grep -c 'configuration reloaded' "$DAEMON_LOG")
    if [ "$reloads" -lt 3 ] || [ "$reloads" -gt "$sent" ]; then
        note "    $reloads reloads logged for $sent SIGHUPs in three bursts (wanted 3 to $sent)"
        note_file "$DAEMON_LOG"
        return 1
    fi
}

# SIGTERM with no session in flight: gone within 1 s, status 0. With a
# session in flight: that session is served to its end (up to
# shutdown-grace), no new one starts, and the milter leaves within 1 s
# of the session's end; a session outlasting the grace period is cut.
case_defect_sigterm_slow() {
    local conf socket=$WORK/milter/term.sock start elapsed
    conf=$(daemon_config term)
    daemon_start term "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    sleep 1
    start=$(now_ms)
    kill -TERM "$DAEMON_PID"
    if ! daemon_wait_exit 10; then
        note "    still running 10 s after SIGTERM"
        return 1
    fi
    elapsed=$(($(now_ms) - start))
    if [ "$elapsed" -ge 1000 ] || [ "$DAEMON_STATUS" -ne 0 ]; then
        note "    no session in flight: exited after $elapsed ms with status $DAEMON_STATUS" \
            "(wanted < 1000 ms, status 0)"
        note_file "$DAEMON_LOG"
        return 1
    fi

    # One session in flight, a grace period of 5 s.
    local ready=$WORK/term-ready release=$WORK/term-release out=$WORK/term-held holder
    rm -f "$ready" "$release" "$out"
    conf=$(daemon_config term 'shutdown-grace = 5s')
    daemon_start term-grace "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    probe hold "unix:$socket" "$ready" "$release" "$out" &
    holder=$!
    for _ in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.05; done
    kill -TERM "$DAEMON_PID"
    sleep 0.5
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        note "    left 0.5 s after SIGTERM with a session in flight (shutdown-grace = 5s)"
        note_file "$DAEMON_LOG"
        touch "$release"
        wait "$holder"
        return 1
    fi
    if probe serves "unix:$socket" >/dev/null 2>&1; then
        note "    a new session was served after SIGTERM"
        touch "$release"
        wait "$holder"
        return 1
    fi
    start=$(now_ms)
    touch "$release"
    wait "$holder"
    if [ "$(cat "$out" 2>/dev/null)" != served ]; then
        note "    the session in flight was not served to its end: $(cat "$out" 2>/dev/null)"
        note_file "$DAEMON_LOG"
        return 1
    fi
    daemon_wait_exit 10 || { note "    still running 10 s after its last session"; return 1; }
    elapsed=$(($(now_ms) - start))
    if [ "$elapsed" -ge 1000 ] || [ "$DAEMON_STATUS" -ne 0 ]; then
        note "    exited $elapsed ms after its last session, status $DAEMON_STATUS" \
            "(wanted < 1000 ms, status 0)"
        note_file "$DAEMON_LOG"
        return 1
    fi

    # A session that never ends, a grace period of 1 s.
    rm -f "$ready" "$release" "$out"
    conf=$(daemon_config term 'shutdown-grace = 1s')
    daemon_start term-cut "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    probe hold "unix:$socket" "$ready" "$release" "$out" &
    holder=$!
    for _ in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.05; done
    start=$(now_ms)
    kill -TERM "$DAEMON_PID"
    daemon_wait_exit 10
    elapsed=$(($(now_ms) - start))
    touch "$release"
    wait "$holder"
    if [ "$elapsed" -lt 900 ] || [ "$elapsed" -ge 2000 ]; then
        note "    with a session that never ends and shutdown-grace = 1s: exited after" \
            "$elapsed ms (wanted 1000 to 2000 ms)"
        note_file "$DAEMON_LOG"
        return 1
    fi
    expect_log 'shutdown-grace.*1 session|1 session.*shutdown-grace' "$DAEMON_LOG"
}

# --- PID file and second instance ----------------------------------------

# The PID file a symbolic link to a root-owned file, user = nobody: the
# file keeps its contents and its owner, and the milter refuses to start.
# A PID file it does write is a plain file, not writable by its group
# (the MTA's user may be a member) nor by others.
case_defect_pid_file_symlink() {
    local precious=$WORK/precious link=$WORK/milter/link.pid conf socket=$WORK/milter/pidlink.sock
    printf 'precious\n' >"$precious"
    chmod 0644 "$precious"
    rm -f "$link"
    ln -s "$precious" "$link"
    conf=$(daemon_config pidlink 'user = nobody' 'group = nogroup' "pid-file = $link")
    daemon_start pidlink "$conf"
    daemon_wait_exit 5
    if [ "$(cat "$precious")" != precious ] || [ "$(stat -c %U "$precious")" != root ]; then
        note "    the symlink's target now holds '$(head -c 40 "$precious")'," \
            "owner $(stat -c %U "$precious")"
        return 1
    fi
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        note "    started with a symbolic link as its PID file"
        return 1
    fi
    expect_log 'PID file.*(symbolic link|not a plain file)' "$DAEMON_LOG" || return 1

    local pidfile=$WORK/milter/plain.pid mode
    conf=$(daemon_config pidplain 'user = nobody' 'group = nogroup' "pid-file = $pidfile")
    rm -f "$pidfile"
    daemon_start pidplain "$conf"
    daemon_wait_socket "$WORK/milter/pidplain.sock" ||
        { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    mode=$(stat -c %a "$pidfile")
    if [ -L "$pidfile" ] || [ "$(cat "$pidfile")" != "$DAEMON_PID" ] || (((8#$mode & 8#022) != 0)); then
        note "    PID file: $(stat -c '%F %a %U:%G' "$pidfile"), holds '$(cat "$pidfile")'," \
            "milter $DAEMON_PID"
        return 1
    fi
    socket=$WORK/milter/pidplain.sock
    if [ "$(stat -c '%a %G' "$socket")" != "660 nogroup" ]; then
        note "    socket: $(stat -c '%a %U:%G' "$socket") (wanted mode 660, group nogroup)"
        return 1
    fi
    serves "$socket" "as nobody"
}

# A second start while the first runs refuses to start (PID file naming a
# live milter, or a socket that answers) and leaves the first one's
# socket and PID file alone; after a crash (stale files) it starts.
case_defect_second_instance() {
    local conf socket=$WORK/milter/twice.sock first pidfile
    conf=$(daemon_config twice)
    pidfile=$conf.pid
    daemon_start twice-1 "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    first=$DAEMON_PID
    sleep 0.3

    local variant second_conf
    for variant in pid-file socket; do
        second_conf=$conf
        if [ "$variant" = socket ]; then
            second_conf=$WORK/daemon-twice-nopid.conf
            sed '/^pid-file = /d' "$conf" >"$second_conf"
        fi
        daemon_start "twice-$variant" "$second_conf"
        if ! daemon_wait_exit 5; then
            note "    second start ($variant check) still runs after 5 s"
            return 1
        fi
        if [ "$DAEMON_STATUS" -eq 0 ]; then
            note "    second start ($variant check) exited with status 0"
            note_file "$DAEMON_LOG"
            return 1
        fi
        expect_log 'already running|another .*answers' "$DAEMON_LOG" || return 1
        if [ ! -S "$socket" ]; then
            note "    second start ($variant check) removed the first one's socket"
            return 1
        fi
        DAEMON_PID=$first
        serves "$socket" "first milter after a second start ($variant check)" || return 1
        if [ "$(cat "$pidfile" 2>/dev/null)" != "$first" ]; then
            note "    PID file holds '$(cat "$pidfile" 2>/dev/null)', first milter is $first"
            return 1
        fi
    done

    # Detached (no -f): the refusal shows in the exit status too.
    if "$MILTER_BIN" -c "$conf" >"$WORK/daemon-twice-detached.log" 2>&1; then
        note "    a detached second start exited with status 0"
        return 1
    fi

    # After a crash: stale socket and PID file, the next start proceeds.
    kill -KILL "$first"
    DAEMON_PID=$first
    daemon_wait_exit 5
    if [ ! -e "$pidfile" ] || [ ! -S "$socket" ]; then
        note "    no stale files after SIGKILL"
        return 1
    fi
    daemon_start twice-after-crash "$conf"
    sleep 1
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        note "    did not start over a stale PID file and socket:"
        note_file "$DAEMON_LOG"
        return 1
    fi
    serves "$socket" "after a crash" || return 1
    [ "$(cat "$pidfile")" = "$DAEMON_PID" ] || { note "    PID file not rewritten"; return 1; }
}

# --- privileges ------------------------------------------------------------

# Started as root with no user in the configuration: never runs as root
# (it switches to the default user portcullis, or refuses to start when
# that user is missing, saying so). 'user =' (empty) refuses; 'user = root'
# keeps root, with a warning.
case_defect_root_by_default() {
    local conf socket=$WORK/milter/root.sock uid
    conf=$(daemon_config root)
    sed -i '/^user = /d' "$conf"
    daemon_start root-default "$conf"
    daemon_wait_socket "$socket"
    sleep 0.3
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        uid=$(uid_of "$DAEMON_PID")
        if [ "$uid" = 0 ]; then
            note "    a configuration without 'user' runs as root"
            return 1
        fi
        stop_pid "$DAEMON_PID" 10
    else
        wait "$DAEMON_PID"
        if ! getent passwd portcullis >/dev/null; then
            expect_log "user 'portcullis' does not exist.*user = root" "$DAEMON_LOG" || return 1
        else
            note "    did not start although user portcullis exists:"
            note_file "$DAEMON_LOG"
            return 1
        fi
    fi

    conf=$(daemon_config root 'user =')
    daemon_start root-empty "$conf"
    if ! daemon_wait_exit 5; then
        note "    'user =' (empty) started as root, uid $(uid_of "$DAEMON_PID")"
        return 1
    fi
    [ "$DAEMON_STATUS" -ne 0 ] || { note "    'user =' as root: status 0"; return 1; }
    expect_log 'refus.*root.*user = root' "$DAEMON_LOG" || return 1

    conf=$(daemon_config root)
    grep -q '^user = root$' "$conf" || { note "    the harness config lacks 'user = root'"; return 1; }
    daemon_start root-kept "$conf"
    daemon_wait_socket "$socket" || { note "    'user = root' did not start:"; note_file "$DAEMON_LOG"; return 1; }
    [ "$(uid_of "$DAEMON_PID")" = 0 ] || { note "    'user = root' did not keep root"; return 1; }
    expect_log 'running as root' "$DAEMON_LOG"
}

# --- file descriptors --------------------------------------------------------

# Soft limit 256, hard 4096: the milter raises the soft limit to 4096 and
# logs the figure.
case_defect_nofile_limit() {
    local conf socket=$WORK/milter/nofile.sock limits
    conf=$(daemon_config nofile)
    daemon_start nofile "$conf" prlimit --nofile=256:4096 --
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    limits=$(grep '^Max open files' "/proc/$DAEMON_PID/limits")
    if ! [[ $limits =~ ^Max\ open\ files\ +4096\ +4096 ]]; then
        note "    started with 256:4096, now: $limits"
        return 1
    fi
    expect_log 'file descriptors.*4096' "$DAEMON_LOG"
}

# Hard limit 64 and 120 connections held open: libmilter's listener meets
# EMFILE. It must not spin (CPU of the whole milter under 20% over 2 s),
# must close the connections it cannot serve, say so in the log, and
# serve again once the connections are gone.
case_defect_emfile_listener_spin() {
    local conf socket=$WORK/milter/emfile.sock out=$WORK/transcripts/emfile-flood cpu closed
    conf=$(daemon_config emfile)
    daemon_start emfile "$conf" prlimit --nofile=64:64 --
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    sleep 0.5
    probe flood "unix:$socket" "$DAEMON_PID" 120 2 >"$out" 2>&1
    cpu=$(sed -n 's/.*cpu_percent=\([0-9]*\).*/\1/p' "$out")
    closed=$(sed -n 's/.*closed_by_milter=\([0-9]*\).*/\1/p' "$out")
    if [ -z "$cpu" ] || [ "$cpu" -ge 20 ]; then
        note "    at EMFILE: $(cat "$out") (wanted cpu_percent < 20)"
        return 1
    fi
    if [ "${closed:-0}" -eq 0 ]; then
        note "    at EMFILE no connection was closed: $(cat "$out")"
        return 1
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || { note "    gone at EMFILE:"; note_file "$DAEMON_LOG"; return 1; }
    expect_log 'out of file descriptors' "$DAEMON_LOG" || return 1
    sleep 0.5
    serves "$socket" "after the flood"
}

# --- systemd and versions ----------------------------------------------------

# notify_line N: the Nth line of the notifications received (1-based).
notify_line() { sed -n "${1}p" "$WORK/notify.out" 2>/dev/null; }
# notifications_at_least N: N lines or more received.
notifications_at_least() { [ "$(wc -l <"$WORK/notify.out")" -ge "$1" ]; }

# The notifications of Type=notify, to a datagram socket the probe binds as
# systemd would (NOTIFY_SOCKET): READY=1 only once the milter socket
# exists, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP,
# STOPPING=1 on SIGTERM, in that order and nothing else.
case_daemon_sd_notify() {
    local conf socket=$WORK/milter/notify.sock notify=$WORK/milter/notify.dgram
    local out=$WORK/notify.out listener line
    conf=$(daemon_config notify)
    rm -f "$out" "$socket"
    probe notify-listen "$notify" "$socket" "$out" 40 >"$WORK/notify-listener.log" 2>&1 &
    listener=$!
    if ! wait_until 5 grep -qs '^listening' "$WORK/notify-listener.log"; then
        note "    the notify listener did not start:"
        note_file "$WORK/notify-listener.log"
        return 1
    fi
    daemon_start notify "$conf" env "NOTIFY_SOCKET=$notify"
    if ! wait_until 10 grep -qs '^READY=1' "$out"; then
        note "    no READY=1 within 10 s; received:"
        note_file "$out"
        note_file "$DAEMON_LOG"
        stop_pid "$listener" 2
        return 1
    fi
    kill -HUP "$DAEMON_PID"
    wait_until 10 grep -qs 'configuration reloaded' "$DAEMON_LOG"
    wait_until 5 notifications_at_least 3
    kill -TERM "$DAEMON_PID"
    daemon_wait_exit 10 || note "    still running 10 s after SIGTERM"
    wait "$listener"
    line=$(notify_line 1)
    if ! [[ $line =~ ^READY=1\ STATUS=serving.*\ socket=yes$ ]]; then
        note "    first notification: '$line' (wanted READY=1 once the socket exists)"
        note_file "$out"
        return 1
    fi
    line=$(notify_line 2)
    if ! [[ $line =~ ^RELOADING=1\ MONOTONIC_USEC=([0-9]+)\ socket=yes$ ]] ||
        [ "${BASH_REMATCH[1]}" -le 0 ]; then
        note "    second notification: '$line' (wanted RELOADING=1 MONOTONIC_USEC=N)"
        note_file "$out"
        return 1
    fi
    line=$(notify_line 3)
    if ! [[ $line =~ ^READY=1\ STATUS=configuration_reloaded ]]; then
        note "    third notification: '$line' (wanted READY=1 after the reload)"
        note_file "$out"
        return 1
    fi
    line=$(notify_line 4)
    if ! [[ $line =~ ^STOPPING=1\ STATUS=stopping ]] || [ "$(wc -l <"$out")" -ne 4 ]; then
        note "    fourth and last notification: '$line' (wanted STOPPING=1); all of them:"
        note_file "$out"
        return 1
    fi
    [ "$DAEMON_STATUS" = 0 ] || { note "    exit status $DAEMON_STATUS after SIGTERM"; return 1; }
}

# `portcullis --version` and the start line name the libmilter, libunbound
# and libopendkim versions that the libraries the binary is linked with
# report at run time (the probe calls smfi_version, ub_version and
# dkim_libversion through ctypes).
case_version_libraries() {
    local version expected line conf socket=$WORK/milter/version.sock start_line
    version=$("$MILTER_BIN" --version 2>&1) || { note "    --version failed: $version"; return 1; }
    expected=$(probe library-versions "$MILTER_BIN" 2>&1) ||
        { note "    probe failed: $expected"; return 1; }
    if [ "$(wc -l <<<"$expected")" -ne 3 ]; then
        note "    probe printed: $expected"
        return 1
    fi
    if ! [[ $(head -n 1 <<<"$version") =~ ^portcullis\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        note "    --version starts with '$(head -n 1 <<<"$version")'"
        return 1
    fi
    while read -r line; do
        if ! [[ $line =~ ^lib(milter|unbound|opendkim)\ [0-9]+(\.[0-9]+)+$ ]] ||
            ! grep -qxF -- "$line" <<<"$version"; then
            note "    --version lacks '$line'; it printed:"
            note "$version"
            return 1
        fi
    done <<<"$expected"
    conf=$(daemon_config version)
    daemon_start version "$conf"
    daemon_wait_socket "$socket" || { note "    did not start:"; note_file "$DAEMON_LOG"; return 1; }
    wait_until 5 grep -qs 'starting portcullis' "$DAEMON_LOG"
    start_line=$(grep -m 1 'starting portcullis' "$DAEMON_LOG")
    # "libmilter 1.0.1, libunbound 1.17.1, libopendkim 2.11.0" in the start line
    if ! grep -qF -- "($(paste -sd, <<<"$expected" | sed 's/,/, /g'))" <<<"$start_line"; then
        note "    start line: '$start_line'; wanted ($(paste -sd, <<<"$expected"))"
        return 1
    fi
}

DAEMON_CASE=""
run_daemon_case() {
    "$DAEMON_CASE"
    local status=$?
    daemon_stop_all
    return $status
}

run_daemon_cases() {
    local entry
    for entry in \
        defect-sighup-burst:case_defect_sighup_burst \
        defect-sigterm-slow:case_defect_sigterm_slow \
        defect-pid-file-symlink:case_defect_pid_file_symlink \
        defect-second-instance:case_defect_second_instance \
        defect-root-by-default:case_defect_root_by_default \
        defect-nofile-limit:case_defect_nofile_limit \
        defect-emfile-listener-spin:case_defect_emfile_listener_spin \
        daemon-sd-notify:case_daemon_sd_notify \
        version-libraries:case_version_libraries; do
        DAEMON_CASE=${entry#*:}
        run_case "${entry%%:*}" run_daemon_case
    done
}
