# shellcheck shell=bash
# Helpers for the integration tests: a private nsd, a private Postfix, the
# milter, SMTP transcripts and PASS/FAIL bookkeeping. Sourced by run.sh.
#
# Contract: everything lives under $WORK (a fresh temporary directory);
# servers listen on 127.0.0.1 only, on ports chosen by pick_ports; every
# server started here is stopped by cleanup (run.sh traps EXIT), and only
# by the process ids recorded here. Nothing under /etc is written, and
# /etc/postfix/main.cf is never used: every Postfix command gets
# -c "$POSTFIX_CONF" (MAIL_CONFIG is exported too).
# Tools: bash, coreutils, grep, sed, awk, python3 and the test packages;
# no ss/ps (iproute2/procps are missing from minimal Debian images).

PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

# --- results -----------------------------------------------------------

PASSED=0
FAILED=0
CASE_NOTES=""   # file collecting what a failing case wants shown

note() { printf '%s\n' "$*" >>"$CASE_NOTES"; }

# note_file FILE [PATTERN]: append FILE (or its lines matching PATTERN).
note_file() {
    [ -f "$1" ] || { note "    ($1 missing)"; return; }
    if [ $# -ge 2 ]; then
        grep -a -E -- "$2" "$1" | tail -n 40 | sed 's/^/    /' >>"$CASE_NOTES"
    else
        tail -n 40 "$1" | sed 's/^/    /' >>"$CASE_NOTES"
    fi
}

# run_case NAME FUNCTION: runs FUNCTION, prints PASS/FAIL NAME.
run_case() {
    local name=$1 function=$2
    section_mine || return 0
    if [ -n "${CASE_FILTER:-}" ] && ! [[ $name =~ $CASE_FILTER ]]; then
        return 0
    fi
    CASE_NOTES="$WORK/notes/$name"
    : >"$CASE_NOTES"
    if "$function"; then
        echo "PASS $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name"
        cat "$CASE_NOTES"
        FAILED=$((FAILED + 1))
    fi
}

# --- sections and parallel groups ---------------------------------------

# run_all_cases marks its sections with case_section NAME; a serial run
# ignores the marks. With PORTCULLIS_IT_JOBS=N, run.sh runs run_groups:
# N groups, each a run.sh of its own with its own temporary directory,
# ports, nsd, Postfix and milters, side by side. Every group walks all the
# sections and runs those it claims first (mkdir in the directory they
# share, $IT_SHARED), so a section's cases run together and in order in
# one group, and a group that is done takes the next unclaimed section. A
# group writes each section's output to a file of its own; run_groups
# prints them in section order and adds up the groups' counts, so the
# output and the counts are those of a serial run.
IT_SHARED=${PORTCULLIS_IT_SHARED:-}
IT_GROUP=${PORTCULLIS_IT_GROUP:-}
SECTION_COUNT=0
SECTION_MINE=yes
[ -n "$IT_SHARED" ] && SECTION_MINE=""

# section_mine: the current section's cases run in this process.
section_mine() {
    [ -z "$IT_SHARED" ] || [ "$SECTION_COUNT" -gt 0 ] || case_section start
    [ -n "$SECTION_MINE" ]
}

case_section() {
    [ -n "$IT_SHARED" ] || return 0
    SECTION_COUNT=$((SECTION_COUNT + 1))
    if mkdir "$IT_SHARED/claims/$SECTION_COUNT" 2>/dev/null; then
        SECTION_MINE=yes
        exec >"$(printf '%s/out/%03d-%s' "$IT_SHARED" "$SECTION_COUNT" "$1")" 2>&1
    else
        SECTION_MINE=""
        exec >>"$IT_SHARED/group-${IT_GROUP%%/*}.log" 2>&1
    fi
}

# end_sections: what the group prints after its last section (its
# summary) goes to the group's own log again.
end_sections() {
    [ -n "$IT_SHARED" ] || return 0
    exec >>"$IT_SHARED/group-${IT_GROUP%%/*}.log" 2>&1
}

# run_groups JOBS ARGUMENT...: runs `run.sh ARGUMENT...` as JOBS groups
# (see above), then prints what they printed in the order of a serial run
# and the sum of their counts as "integration: N passed, M failed".
run_groups() {
    local jobs=$1 shared group line passed=0 failed=0 pids=()
    shift
    shared=$(mktemp -d /tmp/portcullis-integration-groups.XXXXXX) || return 1
    mkdir "$shared/claims" "$shared/out"
    trap '[ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null; wait; rm -rf "$shared"; exit 130' INT TERM
    for group in $(seq 1 "$jobs"); do
        PORTCULLIS_IT_SHARED=$shared PORTCULLIS_IT_GROUP=$group/$jobs \
            "$HERE/run.sh" "$@" >>"$shared/group-$group.log" 2>&1 &
        pids+=("$!")
    done
    wait "${pids[@]}"
    trap - INT TERM
    for line in "$shared"/out/[0-9]*; do
        [ -f "$line" ] && cat "$line"
    done
    for group in $(seq 1 "$jobs"); do
        grep -v -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$shared/group-$group.log"
        line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$shared/group-$group.log" | tail -n 1)
        if [ -z "$line" ]; then
            echo "FAIL group-$group (ended without its summary)"
            failed=$((failed + 1))
            continue
        fi
        line=${line#integration: }
        passed=$((passed + ${line%% passed*}))
        line=${line#* passed, }
        failed=$((failed + ${line%% failed}))
    done
    rm -rf "$shared"
    echo "integration: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# --- ports -------------------------------------------------------------

# ports_free PORT...: each can be bound on 127.0.0.1, TCP and UDP.
ports_free() {
    "$PYTHON" - "$@" <<'EOF'
import socket, sys
for port in map(int, sys.argv[1:]):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                sys.exit(1)
EOF
}

# Eight consecutive free ports: SMTP, nsd, a DNS black hole, a closed port,
# the nsd serving RFC 7208 suite scenarios and the relay in front of it
# that keeps silent for the scenario's TIMEOUT names (spf_cases.sh), the
# redis-server of the memory cases and a second Postfix smtpd, which
# hands its sessions to a second milter (memory_cases.sh).
pick_ports() {
    local base _ group=1 groups=1
    if [ -n "$IT_GROUP" ]; then
        group=${IT_GROUP%%/*}
        groups=${IT_GROUP#*/}
    fi
    for _ in $(seq 1 50); do
        # Below the kernel's ephemeral range (32768 on Debian): an outgoing
        # connection cannot take a port between the check and the bind.
        # Group K of N (run_groups) takes the Kth of every N blocks of ten.
        base=${PORTCULLIS_IT_PORT_BASE:-$((12000 + (RANDOM % (2000 / groups)) * groups * 10))}
        base=$((base + (group - 1) * 10))
        if ports_free $(seq "$base" $((base + 7))); then
            SMTP_PORT=$base
            DNS_PORT=$((base + 1))
            BLACKHOLE_PORT=$((base + 2))
            CLOSED_PORT=$((base + 3))
            SUITE_DNS_PORT=$((base + 4))
            SUITE_RELAY_PORT=$((base + 5))
            REDIS_PORT=$((base + 6))
            SMTP_B_PORT=$((base + 7))
            return 0
        fi
        [ -n "${PORTCULLIS_IT_PORT_BASE:-}" ] && break
    done
    echo "integration: no free ports found" >&2
    return 1
}

# wait_until SECONDS COMMAND...: retry COMMAND every 0.1 s until it succeeds.
wait_until() {
    local seconds=$1 _
    shift
    for _ in $(seq 1 $((seconds * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

tcp_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# dns_answering PORT [NAME]: NAME (default ns.test) has an A record there.
dns_answering() { dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "${2:-ns.test}" A | grep -q .; }

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL. Only our own pids.
stop_pid() {
    local pid=$1 wait=${2:-5} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 $((wait * 10))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    sleep 0.1
}

# --- nsd ---------------------------------------------------------------

ZONES="test bl.test 2.0.192.in-addr.arpa 100.51.198.in-addr.arpa 8.b.d.0.1.0.0.2.ip6.arpa 0.0.127.in-addr.arpa"
NSD_PID=""

write_nsd_config() {
    local dir=$WORK/nsd zone
    mkdir -p "$dir"
    {
        echo "server:"
        echo "    ip-address: 127.0.0.1@$DNS_PORT"
        echo "    port: $DNS_PORT"
        echo "    do-ip6: no"
        echo "    server-count: 1"
        echo "    username: \"\""
        echo "    chroot: \"\""
        echo "    database: \"\""
        echo "    zonelistfile: \"$dir/zone.list\""
        echo "    xfrdfile: \"$dir/xfrd.state\""
        echo "    xfrdir: \"$dir\""
        echo "    pidfile: \"$dir/nsd.pid\""
        echo "    logfile: \"$dir/nsd.log\""
        echo "    verbosity: 2"
        echo "    hide-version: yes"
        echo "remote-control:"
        echo "    control-enable: no"
        for zone in $ZONES; do
            echo "zone:"
            echo "    name: \"$zone.\""
            echo "    zonefile: \"$HERE/zones/$zone.zone\""
        done
    } >"$dir/nsd.conf"
}

start_nsd() {
    write_nsd_config
    nsd-checkconf "$WORK/nsd/nsd.conf" || return 1
    nsd -d -c "$WORK/nsd/nsd.conf" >>"$WORK/nsd/nsd.out" 2>&1 &
    NSD_PID=$!
    wait_until 10 dns_answering "$DNS_PORT" || { cat "$WORK/nsd/nsd.out" "$WORK/nsd/nsd.log" >&2; return 1; }
}

# children PID: the pids whose parent is PID, from /proc.
children() {
    local stat line fields
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        # the command name in parentheses may hold spaces: skip past it
        read -r -a fields <<<"${line##*) }"
        [ "${fields[1]}" = "$1" ] && basename "$(dirname "$stat")"
    done
}

# descendants PID: the pids of PID's children, grandchildren, ...
descendants() {
    local child
    for child in $(children "$1"); do
        echo "$child"
        descendants "$child"
    done
}

is_zombie() {
    local line fields
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    read -r -a fields <<<"${line##*) }"
    [ "${fields[0]}" = Z ]
}

# nsd's server processes can outlive its main process for a moment (and
# linger as zombies until init reaps them): wait until all are gone.
stop_nsd() {
    stop_nsd_tree "$NSD_PID"
    NSD_PID=""
}

# stop_nsd_tree PID: an nsd main process of ours and its server processes.
stop_nsd_tree() {
    [ -n "$1" ] || return 0
    local others pid i
    others=$(descendants "$1")
    stop_pid "$1" 5
    for pid in $others; do
        # a zombie answers kill -0 but cannot be killed: leave it to init
        is_zombie "$pid" || stop_pid "$pid" 2
    done
    for i in $(seq 1 50); do
        others=$(for pid in $others; do [ -e "/proc/$pid" ] && echo "$pid"; done)
        [ -z "$others" ] && break
        sleep 0.1
    done
}

# A second nsd on SUITE_DNS_PORT serving one root zone: an RFC 7208 suite
# scenario (spf_cases.sh), whose names (example.com, ...) are real-world
# names that only a resolver forwarding everything here may see.
SUITE_NSD_PID=""
start_suite_nsd() {
    local zonefile=$1 dir=$WORK/nsd-suite
    stop_suite_nsd
    rm -rf "$dir"
    mkdir -p "$dir"
    "$PYTHON" "$HERE/spf_suite.py" nsd-conf "$dir" "$zonefile" "$SUITE_DNS_PORT" || return 1
    nsd-checkconf "$dir/nsd.conf" >>"$dir/nsd.out" 2>&1 || return 1
    nsd -d -c "$dir/nsd.conf" >>"$dir/nsd.out" 2>&1 &
    SUITE_NSD_PID=$!
    wait_until 10 dns_answering "$SUITE_DNS_PORT" ns.spf-suite-driver
}
stop_suite_nsd() {
    stop_nsd_tree "$SUITE_NSD_PID"
    SUITE_NSD_PID=""
}

# The relay on SUITE_RELAY_PORT in front of the suite nsd: silent for the
# TIMEOUT names of TIMEOUTS_FILE (dns_relay.py --silent), the rest passed on.
SUITE_RELAY_PID=""
start_suite_relay() {
    local timeouts=$1
    stop_suite_relay
    "$PYTHON" "$HERE/dns_relay.py" "$SUITE_RELAY_PORT" "$SUITE_DNS_PORT" --silent "$timeouts" \
        >"$WORK/nsd-suite/relay.log" 2>&1 &
    SUITE_RELAY_PID=$!
    wait_until 10 grep -qs '^listening' "$WORK/nsd-suite/relay.log"
}
stop_suite_relay() { stop_pid "$SUITE_RELAY_PID" 5; SUITE_RELAY_PID=""; }

# A UDP and TCP listener on BLACKHOLE_PORT that reads queries and never answers.
BLACKHOLE_PID=""
start_blackhole() {
    "$PYTHON" "$HERE/dns_blackhole.py" 127.0.0.1 "$BLACKHOLE_PORT" >"$WORK/blackhole.log" 2>&1 &
    BLACKHOLE_PID=$!
    wait_until 10 grep -qs '^listening' "$WORK/blackhole.log"
}
stop_blackhole() { stop_pid "$BLACKHOLE_PID" 5; BLACKHOLE_PID=""; }

# --- Redis -------------------------------------------------------------

# The memory cases' redis-server on REDIS_PORT: no persistence, its
# directory under $WORK. Started by the first case that needs it.
REDIS_PID=""
redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_answering() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

start_redis() {
    local dir=$WORK/redis
    if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then return 0; fi
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$dir" --daemonize no --logfile "$dir/redis.log" >"$dir/redis.out" 2>&1 &
    REDIS_PID=$!
    wait_until 10 redis_answering
}
stop_redis() { stop_pid "$REDIS_PID" 5; REDIS_PID=""; }

# --- Postfix -----------------------------------------------------------

POSTFIX_CONF=""
MILTER_SOCKET=""
# The milter of the second smtpd (SMTP_B_PORT): memory_cases.sh starts
# one there for the cases of two instances sharing one store.
MILTER_SOCKET_B=""

write_postfix_config() {
    local dir=$WORK/postfix
    # XCLIENT takes an IPv6 ADDR only when Postfix has IPv6 enabled.
    INET_PROTOCOLS=ipv4
    [ -e /proc/net/if_inet6 ] && INET_PROTOCOLS=all
    POSTFIX_CONF=$dir/conf
    mkdir -p "$POSTFIX_CONF" "$dir/queue" "$dir/mail"
    chown postfix: "$dir/mail"
    cat >"$POSTFIX_CONF/main.cf" <<EOF
# Private Postfix for the portcullis integration tests.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.dest.test
mydomain = dest.test
myorigin = \$mydomain
mydestination = dest.test
inet_interfaces = 127.0.0.1
inet_protocols = $INET_PROTOCOLS
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP portcullis-integration
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_milters = unix:$MILTER_SOCKET
non_smtpd_milters =
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = 30s
# No DNS of Postfix's own: client names come from XCLIENT, delivery is local.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
# Every recipient at dest.test lands in one mbox file under the temp dir,
# except local parts starting with "unknown": Postfix refuses those
# ("User unknown in local recipient table"), for the abuse counters.
local_recipient_maps = regexp:$POSTFIX_CONF/local_recipients
alias_maps =
alias_database =
local_transport = virtual
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = static:sink
# Its default, \$virtual_mailbox_maps, is static: every domain would be a
# virtual mailbox domain, and Postfix would take mail for outside domains.
virtual_mailbox_domains =
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
default_transport = error:no relaying from the test instance
relay_transport = error:no relaying from the test instance
# Postfix's own error limits (10 errors before sleeping 1 s per error, 20
# before disconnecting) would cut the session of the abuse counter cases,
# which have Postfix refuse 25 recipients, before portcullis's limit.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
biff = no
readme_directory = no
html_directory = no
EOF
    printf '%s\n' '!/^unknown/ ok' >"$POSTFIX_CONF/local_recipients"
    # chroot "n" everywhere: a chrooted smtpd would not see the milter socket.
    # The second smtpd hands its sessions to the milter on MILTER_SOCKET_B.
    cat >"$POSTFIX_CONF/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SMTP_B_PORT inet n - n - - smtpd -o smtpd_milters=unix:$MILTER_SOCKET_B
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

start_postfix() {
    write_postfix_config
    export MAIL_CONFIG=$POSTFIX_CONF
    postfix -c "$POSTFIX_CONF" check >"$WORK/postfix/check.out" 2>&1 ||
        { cat "$WORK/postfix/check.out" >&2; return 1; }
    postfix -c "$POSTFIX_CONF" start >"$WORK/postfix/start.out" 2>&1 ||
        { cat "$WORK/postfix/start.out" >&2; return 1; }
    wait_until 15 tcp_listening "$SMTP_PORT" || { cat "$WORK/postfix/start.out" >&2; return 1; }
}

postfix_master_pid() {
    local file=$WORK/postfix/queue/pid/master.pid
    [ -f "$file" ] && tr -d ' \n' <"$file"
}

stop_postfix() {
    [ -n "$POSTFIX_CONF" ] || return 0
    local master daemons pid i
    master=$(postfix_master_pid)
    daemons=""
    [ -n "$master" ] && daemons=$(children "$master")
    postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
    if [ -n "$master" ]; then
        for i in $(seq 1 100); do
            kill -0 "$master" 2>/dev/null || break
            sleep 0.1
        done
        stop_pid "$master" 2
    fi
    # The master's daemons normally leave with it; make sure of it.
    for pid in $daemons; do stop_pid "$pid" 2; done
    POSTFIX_CONF=""
}

# --- milter ------------------------------------------------------------

MILTER_PID=""
MILTER_LOG=""
MILTER_CONFIG_RUNNING=""
MILTER_STARTS=0

have_milter() {
    if [ -x "$MILTER_BIN" ]; then return 0; fi
    note "    milter binary missing: $MILTER_BIN"
    return 1
}

# unbound.conf read by libunbound: lift its built-in NXDOMAIN answers for
# test. and the documentation reverse zones, and allow querying 127.0.0.1.
# spf-timeout.test is asked of the DNS black hole (a more specific
# forward-zone wins over the configured forward for "."): its lookups time
# out, for the SPF temperror cases.
write_unbound_config() {
    cat >"$WORK/unbound.conf" <<EOF
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
    local-zone: "2.0.192.in-addr.arpa." nodefault
    local-zone: "100.51.198.in-addr.arpa." nodefault
    local-zone: "113.0.203.in-addr.arpa." nodefault
    local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." nodefault
forward-zone:
    name: "spf-timeout.test."
    forward-addr: 127.0.0.1@$BLACKHOLE_PORT
EOF
}

# state_path_of CONFIG: the LMDB directory of a configuration file, one
# per file under $WORK/state.
state_path_of() {
    local relative=${1#"$WORK"/}
    echo "$WORK/state/${relative//\//+}"
}

# fresh_state CONFIG: removes the LMDB directory CONFIG names (when under
# $WORK/state), so that a milter starts without memory of earlier cases.
fresh_state() {
    local path
    path=$(sed -n 's/^state\.path = //p' "$1" | head -n 1)
    case $path in
    "$WORK"/state/?*) rm -rf "$path" ;;
    esac
}

# write_milter_config FILE SOCKET [MODE [DNS_PORT [UNBOUND_CONFIG]]]
# The milter keeps root (user = root): its files live under $WORK, and a
# reload reads them again. The privileges cases set a user of their own.
# Memory across sessions is off: greylisting (greylist.mode = suspicious
# by default) would answer 451 to the cases' first tries, and the abuse
# counters (limits.*) would block a client whose refusals several cases
# provoke. The state store (which the daemon always opens) is an LMDB
# directory of the file's own (state_path_of); start_milter empties it.
# memory_cases.sh turns greylisting and the counters on.
write_milter_config() {
    local file=$1 socket=$2 mode=${3:-enforce} port=${4:-$DNS_PORT}
    local unbound_config=${5:-$WORK/unbound.conf}
    cat >"$file" <<EOF
# portcullis configuration for the integration tests
socket = unix:$socket
mode = $mode
pid-file = $file.pid
user = root
state.backend = lmdb
state.path = $(state_path_of "$file")
greylist.mode = off
limits.rejected-recipients = 0
limits.rsets = 0
limits.empty-transactions = 0
limits.unknown-commands = 0
limits.errors = 0
trusted-networks = 127.0.0.0/8 ::1/128 192.0.2.99/32
exempt-recipients = postmaster@* abuse@*
own-hostnames = mx.dest.test
reply-url = http://dest.test/why
replies-file = $SOURCE_ROOT/rules/replies.conf
generic-rdns-patterns = $SOURCE_ROOT/rules/generic-rdns.conf

[resolver]
forward = 127.0.0.1@$port
dnssec = no
timeout = 2s
stage-budget = 5s
unbound-config = $unbound_config

[dnsbl]
zone = bl.test=127.0.0.[2..11]*1
threshold = 1

[allow]
network = 192.0.2.77/32

[deny]
network = 192.0.2.66/32
sender = @bad.test

[policy]
rdns-missing = reject
EOF
}

# start_milter CONFIG SOCKET: start in the foreground mode, wait for SOCKET.
start_milter() {
    local config=$1 socket=$2 i
    have_milter || return 1
    MILTER_STARTS=$((MILTER_STARTS + 1))
    MILTER_LOG=$WORK/milter-$MILTER_STARTS.log
    rm -f "$socket"
    fresh_state "$config"
    "$MILTER_BIN" -f -c "$config" >"$MILTER_LOG" 2>&1 &
    MILTER_PID=$!
    for i in $(seq 1 100); do
        [ -S "$socket" ] && break
        kill -0 "$MILTER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$socket" ]; then
        note "    milter did not create $socket; its log:"
        note_file "$MILTER_LOG"
        stop_pid "$MILTER_PID" 2
        MILTER_PID=""
        return 1
    fi
    # Postfix's smtpd runs as user postfix and must be able to connect.
    chmod 0666 "$socket"
    MILTER_CONFIG_RUNNING=$config
}

# A clean exit takes well under a second with no session in flight
# (defect-sigterm-slow); 10 s leaves room for a loaded machine.
stop_milter() {
    stop_pid "$MILTER_PID" 10
    MILTER_PID=""
    MILTER_CONFIG_RUNNING=""
}

# use_milter CONFIG: make sure the milter on $MILTER_SOCKET runs CONFIG.
use_milter() {
    if [ -n "$MILTER_PID" ] && kill -0 "$MILTER_PID" 2>/dev/null &&
        [ "$MILTER_CONFIG_RUNNING" = "$1" ]; then
        return 0
    fi
    stop_milter
    start_milter "$1" "$MILTER_SOCKET"
}

milter_alive() {
    if [ -n "$MILTER_PID" ] && kill -0 "$MILTER_PID" 2>/dev/null; then return 0; fi
    note "    milter process $MILTER_PID is gone; its log:"
    note_file "$MILTER_LOG"
    return 1
}

# --- SMTP --------------------------------------------------------------

# smtp OUT_NAME ADDR NAME HELO FROM TO [swaks options...]
# One swaks session presenting the client ADDR/NAME via XCLIENT (NAME may
# carry more XCLIENT attributes: "[UNAVAILABLE] LOGIN=alice"). It quits
# after RCPT unless SMTP_QUIT_AFTER says otherwise (empty: whole message).
# It talks to the smtpd on SMTP_SERVER_PORT if set (default SMTP_PORT).
# The transcript goes to $WORK/transcripts/OUT_NAME.
smtp() {
    local out=$WORK/transcripts/$1 addr=$2 name=$3 helo=$4 from=$5 to=$6
    local quit=${SMTP_QUIT_AFTER-RCPT}
    shift 6
    LAST_TRANSCRIPT=$out
    swaks --server "127.0.0.1:${SMTP_SERVER_PORT:-$SMTP_PORT}" --timeout 60 \
        --xclient "ADDR=$addr NAME=$name" \
        --helo "$helo" --from "$from" --to "$to" \
        ${quit:+--quit-after "$quit"} "$@" >"$out" 2>&1
    return 0
}

# reply_to FILE COMMAND_PREFIX [N]: the reply lines (without swaks' arrows)
# to the Nth (default 1st) client line starting with COMMAND_PREFIX.
reply_to() {
    awk -v cmd="$2" -v want="${3:-1}" '
        !found && index($0, " -> " cmd) == 1 { if (++seen == want) found = 1; next }
        found && /^<(-|\*\*) +[0-9][0-9][0-9]/ {
            sub(/^<(-|\*\*) +/, ""); print
            if ($0 ~ /^[0-9][0-9][0-9]( |$)/) exit
        }' "$1"
}

# note_transcript FILE: the dialogue of a transcript, without the EHLO
# capability lines and the message body.
note_transcript() {
    note "    transcript $(basename "$1"):"
    grep -a -E '^( -> [A-Z.]|<-  |<\*\* |\*\*\* )' "$1" | grep -a -v -E '^<-  250-' |
        tail -n 30 | sed 's/^/      /' >>"$CASE_NOTES"
}

# expect_reply FILE COMMAND_PREFIX CODE [STATUS [TEXT_REGEX [N]]]
# The last line of the reply must start with CODE (a regex such as 550 or
# 4[0-9][0-9]), then STATUS, and the whole reply must match TEXT_REGEX.
expect_reply() {
    local file=$1 cmd=$2 code=$3 status=${4:-} text=${5:-} n=${6:-1} reply last
    reply=$(reply_to "$file" "$cmd" "$n")
    last=$(printf '%s\n' "$reply" | tail -n 1)
    if [ -z "$reply" ]; then
        note "    no reply to '$cmd' (#$n):"
        note_transcript "$file"
        return 1
    fi
    if ! [[ $last =~ ^${code}[\ -] ]] ||
        { [ -n "$status" ] && ! [[ $last =~ ^[0-9]{3}[\ -]$status( |$) ]]; } ||
        { [ -n "$text" ] && ! grep -a -q -E -- "$text" <<<"$reply"; }; then
        note "    expected '$cmd' -> $code ${status:-} ${text:+/$text/}, got:"
        printf '%s\n' "$reply" | sed 's/^/      /' >>"$CASE_NOTES"
        note_transcript "$file"
        return 1
    fi
    return 0
}

# expect_log PATTERN [FILE]: the milter log must match PATTERN.
expect_log() {
    local file=${2:-$MILTER_LOG}
    if grep -a -q -E -- "$1" "$file" 2>/dev/null; then return 0; fi
    note "    milter log has no line matching /$1/; last lines:"
    note_file "$file"
    return 1
}

# Raw SMTP dialogue for what swaks cannot say (two EHLOs in one session),
# with the smtpd on SMTP_SERVER_PORT if set (default SMTP_PORT).
smtp_dialogue() {
    local out=$WORK/transcripts/$1
    shift
    LAST_TRANSCRIPT=$out
    "$PYTHON" "$HERE/smtp_dialogue.py" 127.0.0.1 "${SMTP_SERVER_PORT:-$SMTP_PORT}" "$@" >"$out" 2>&1
    return 0
}

# --- whole environment -------------------------------------------------

setup_environment() {
    WORK=$(mktemp -d /tmp/portcullis-integration.XXXXXX) || return 1
    # Postfix daemons (user postfix) must traverse into the temp dir.
    chmod 0755 "$WORK"
    mkdir -p "$WORK/notes" "$WORK/transcripts" "$WORK/milter" "$WORK/state"
    MILTER_SOCKET=$WORK/milter/portcullis.sock
    MILTER_SOCKET_B=$WORK/milter/portcullis-b.sock
    # A milter that runs as another user opens its state.path in there.
    chmod 0755 "$WORK/milter" "$WORK/state"
    pick_ports || return 1
    # A copy, so that a rebuild during the run does not pull the binary
    # from under the cases.
    if [ -x "$MILTER_BIN" ]; then
        mkdir -p "$WORK/bin"
        cp "$MILTER_BIN" "$WORK/bin/portcullis" && MILTER_BIN=$WORK/bin/portcullis
    fi
    write_unbound_config
    start_nsd || { echo "integration: nsd did not start" >&2; return 1; }
    start_postfix || { echo "integration: postfix did not start" >&2; return 1; }
}

cleanup() {
    stop_milter
    daemon_stop_all
    memory_stop_all
    sendmail_stop_all
    stop_postfix
    stop_redis
    stop_blackhole
    stop_suite_relay
    stop_suite_nsd
    stop_nsd
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ -n "${PORTCULLIS_IT_KEEP:-}" ]; then
            echo "integration: kept $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
}
