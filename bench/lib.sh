# shellcheck shell=bash
# Helpers for scripts/bench: ports, the DNS world (nsd + a delaying
# proxy), the filters under test (null filter, portcullis, OpenDKIM), a
# Redis server for the state store, a private Postfix with one smtpd per
# filter setup and smtp-sink. Sourced by scripts/bench.
#
# Contract: everything lives under $WORK; servers listen on 127.0.0.1
# only; every process started here is recorded in $WORK/pids and stopped
# by bench_cleanup, by its own pid only. /etc/postfix and the system
# Postfix are never touched (every Postfix command gets -c DIR).

PYTHON=${PYTHON:-python3}
BENCH_PIDS=()

bench_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# wait_for SECONDS COMMAND...: retry COMMAND every 0.05 s.
wait_for() {
    local tries=$(($1 * 20))
    shift
    while [ "$tries" -gt 0 ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.05
        tries=$((tries - 1))
    done
    return 1
}

remember_pid() { BENCH_PIDS+=("$1"); echo "$1" >>"$WORK/pids"; }

# stop_pids SECONDS PID...: SIGTERM all, wait up to SECONDS, SIGKILL the rest.
stop_pids() {
    local wait=$1 pid left i
    shift
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
    for i in $(seq 1 $((wait * 10))); do
        left=""
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
    return 0
}

# pick_ports COUNT: sets PORTS to COUNT consecutive free TCP+UDP ports,
# below the kernel's ephemeral range: a port free at the start must not be
# taken later by an outgoing connection (smtp-sink once found its port in
# use after the end-to-end part had run).
pick_ports() {
    local count=$1 base _ ephemeral
    ephemeral=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [[ $ephemeral =~ ^[0-9]+$ ]] && [ "$ephemeral" -gt 12000 ] || ephemeral=32768
    for _ in $(seq 1 50); do
        base=$((10000 + (RANDOM % ((ephemeral - 10000 - count) / 16)) * 16))
        if "$PYTHON" - "$base" "$count" <<'EOF'; then
import socket, sys
base, count = int(sys.argv[1]), int(sys.argv[2])
for port in range(base, base + count):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                sys.exit(1)
EOF
            PORTS=()
            for _ in $(seq 0 $((count - 1))); do PORTS+=($((base + _))); done
            return 0
        fi
    done
    return 1
}

# --- DNS world ----------------------------------------------------------

dns_answers() { dig +short +norec +time=1 +tries=1 -p "$1" @127.0.0.1 source.bench.example A | grep -q 127.0.0.1; }

# start_dns_world NSD_PORT DELAY_PORT DELAY_MS [DNS_WORLD_ARGS...]
# (e.g. --zone NAME=FILE for more zones)
start_dns_world() {
    local nsd_port=$1 delay_port=$2 delay_ms=$3
    shift 3
    "$PYTHON" "$BENCH_DIR/dns_world.py" "$WORK/dns" --port "$nsd_port" --clients 65536 \
        --dnsbl-zones 10 --listed-per-mille 10 "$@" || return 1
    nsd-checkconf "$WORK/dns/nsd.conf" || return 1
    nsd -d -c "$WORK/dns/nsd.conf" >"$WORK/dns/nsd.out" 2>&1 &
    remember_pid $!
    NSD_PID=$!
    wait_for 20 dns_answers "$nsd_port" || { cat "$WORK/dns/nsd.out" >&2; return 1; }
    "$PYTHON" "$SOURCE_ROOT/tests/integration/dns_relay.py" "$delay_port" "$nsd_port" \
        --delay-ms "$delay_ms" >"$WORK/dns/delay.out" 2>&1 &
    remember_pid $!
    wait_for 10 grep -q '^listening' "$WORK/dns/delay.out" || { cat "$WORK/dns/delay.out" >&2; return 1; }
}

# nsd forks its server processes: stop the whole family by pid.
stop_nsd() {
    [ -n "${NSD_PID:-}" ] || return 0
    local others="" stat line fields
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        read -r -a fields <<<"${line##*) }"
        [ "${fields[1]}" = "$NSD_PID" ] && others="$others $(basename "$(dirname "$stat")")"
    done
    # shellcheck disable=SC2086
    stop_pids 5 "$NSD_PID" $others
    NSD_PID=""
}

# --- filters ------------------------------------------------------------

socket_ready() {
    case $1 in
    unix:*) [ -S "${1#unix:}" ] ;;
    inet:*) local port=${1#inet:}; port=${port%@*}; (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ;;
    esac
}

# start_null NAME SOCKET [-l | -v]: sets PID_<NAME>.
start_null() {
    local name=$1 socket=$2
    shift 2
    [ "${socket#unix:}" != "$socket" ] && rm -f "${socket#unix:}"
    "${NULL_FILTER:-$BUILD/bench/null-filter}" -p "$socket" "$@" >"$WORK/$name.log" 2>&1 &
    remember_pid $!
    printf -v "PID_$name" '%s' $!
    wait_for 10 socket_ready "$socket" || { echo "null filter $name did not start" >&2; return 1; }
    [ "${socket#unix:}" != "$socket" ] && chmod 0666 "${socket#unix:}"
    return 0
}

# write_portcullis_config FILE SOCKET DNS_PORT ZONES [STATE [BINARY]]
# STATE: "off" (default): greylisting off and no abuse counter, so the
# state store (LMDB under $WORK) is opened but never called; "lmdb" or
# "redis": greylist.mode = all over that backend (Redis: the bench's
# redis-server on $REDIS_PORT), greylist.delay = 1s (the shortest) so that
# scripts/bench can pass every origin before it measures, counters still
# off. A BINARY built before the state store (no
# greylist.mode in it) gets no state lines.
write_portcullis_config() {
    local file=$1 socket=$2 port=$3 zones=$4 state=${5:-off} binary=${6:-$BUILD/milter/portcullis} i
    local state_path
    state_path=$WORK/state/$(basename "$file" .conf)
    {
        echo "# portcullis for the benchmarks: shipped policy, DNS from the bench world"
        echo "socket = $socket"
        # Root, as the null filter runs: the files live under the bench's temp dir.
        echo "user = root"
        echo "mode = enforce"
        echo "exempt-recipients = postmaster@* abuse@*"
        # Not 127.0.0.0/8: Postfix's smtp-source client (127.0.0.1) must be checked.
        echo "trusted-networks = ::1/128"
        echo "own-hostnames = mx.bench.example"
        echo "replies-file = $SOURCE_ROOT/rules/replies.conf"
        echo "generic-rdns-patterns = $SOURCE_ROOT/rules/generic-rdns.conf"
        echo "[resolver]"
        echo "forward = 127.0.0.1@$port"
        echo "dnssec = no"
        echo "timeout = 2s"
        echo "stage-budget = 5s"
        echo "unbound-config = $WORK/dns/unbound.conf"
        echo "[dnsbl]"
        for i in $(seq 0 $((zones - 1))); do echo "zone = bl$i.bench.example=127.0.0.[2..11]*1"; done
        echo "threshold = 1"
        if grep -q -a 'greylist.mode' "$binary" 2>/dev/null; then
            echo "[state]"
            echo "path = $state_path"
            if [ "$state" = redis ]; then
                echo "backend = redis"
                echo "redis = redis://127.0.0.1:$REDIS_PORT/0"
            fi
            echo "[greylist]"
            if [ "$state" = off ]; then
                echo "mode = off"
            else
                echo "mode = all"
                echo "delay = 1s"
            fi
            echo "[limits]"
            for i in rejected-recipients rsets empty-transactions unknown-commands errors; do
                echo "$i = 0"
            done
        fi
        # The [policy] section of the shipped rules/portcullis.conf.
        sed -n '/^\[policy\]/,$p' "$SOURCE_ROOT/rules/portcullis.conf"
    } >"$file"
}

# start_portcullis NAME SOCKET DNS_PORT ZONES [BINARY [SOURCE_ROOT [STATE [OPTION...]]]]:
# sets PID_<NAME>; log in $WORK/NAME.log. Another build's binary reads the
# shipped files of its own source tree. STATE as for write_portcullis_config.
# The OPTIONs go on its command line, after the file (--dkim.verify=yes).
start_portcullis() {
    local name=$1 socket=$2 port=$3 zones=$4 binary=${5:-$BUILD/milter/portcullis}
    mkdir -p "$WORK/state"
    SOURCE_ROOT=${6:-$SOURCE_ROOT} write_portcullis_config "$WORK/$name.conf" "$socket" "$port" \
        "$zones" "${7:-off}" "$binary"
    shift $(($# < 7 ? $# : 7))
    [ "${socket#unix:}" != "$socket" ] && rm -f "${socket#unix:}"
    "$binary" -f -c "$WORK/$name.conf" "$@" >"$WORK/$name.log" 2>&1 &
    remember_pid $!
    printf -v "PID_$name" '%s' $!
    wait_for 20 socket_ready "$socket" || { echo "portcullis $name did not start:" >&2; cat "$WORK/$name.log" >&2; return 1; }
    [ "${socket#unix:}" != "$socket" ] && chmod 0666 "${socket#unix:}"
    return 0
}

# start_opendkim NAME SOCKET DNS_PORT: the Debian package's OpenDKIM
# (/usr/sbin/opendkim) in the foreground, set up as a typical inbound
# verifier (Mode v, an Authentication-Results field on every message,
# no syslog); sets PID_<NAME>; files in $WORK/NAME. Its key lookups go
# through its own libunbound context, every query forwarded to the bench's
# nsd on 127.0.0.1 (Nameservers: ub_ctx_set_fwd; nothing else is asked,
# strace shows), no trust anchor (portcullis runs with dnssec = no too).
# Not ResolverConfiguration: Debian's OpenDKIM (built with _FFR_VBR) makes
# a libunbound context per message for VBR and applies that file to it,
# from several threads at once, and libunbound's config file parser is
# not reentrant: "fatal flex scanner internal error" under 20 sessions.
start_opendkim() {
    local name=$1 socket=$2 port=$3 dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/opendkim.conf" <<EOF
# OpenDKIM for the portcullis benchmarks: verify only.
Mode                    v
Socket                  $socket
UMask                   000
PidFile                 $dir/opendkim.pid
Syslog                  no
SyslogSuccess           no
LogWhy                  no
AlwaysAddARHeader       yes
AuthservID              mx.bench.example
SoftwareHeader          no
MaximumSignaturesToVerify 5
DNSTimeout              5
Nameservers             127.0.0.1@$port
EOF
    [ "${socket#unix:}" != "$socket" ] && rm -f "${socket#unix:}"
    /usr/sbin/opendkim -f -x "$dir/opendkim.conf" >"$WORK/$name.log" 2>&1 &
    remember_pid $!
    printf -v "PID_$name" '%s' $!
    wait_for 10 socket_ready "$socket" || { echo "opendkim $name did not start:" >&2; cat "$WORK/$name.log" >&2; return 1; }
    [ "${socket#unix:}" != "$socket" ] && chmod 0666 "${socket#unix:}"
    return 0
}

# --- Redis --------------------------------------------------------------

redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

# start_redis PORT: a redis-server in memory only (no RDB, no AOF), its
# files under $WORK/redis; sets REDIS_PORT.
start_redis() {
    REDIS_PORT=$1
    mkdir -p "$WORK/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" --daemonize no \
        >"$WORK/redis/redis.out" 2>&1 &
    remember_pid $!
    wait_for 10 redis_answers "$REDIS_PORT" || { cat "$WORK/redis/redis.log" >&2; return 1; }
}

# --- Postfix ------------------------------------------------------------

# start_postfix BASE_PORT MILTER...: one smtpd on BASE_PORT+i per entry,
# each "none" or a milter address as Postfix writes it. With
# POSTFIX_SAMPLE_RELAY=PORT, mail to sample.bench.example is relayed to
# 127.0.0.1:PORT (an smtp-sink that keeps it); all else is discarded.
start_postfix() {
    local base=$1 dir=$WORK/postfix i=0 milter transport=""
    shift
    [ -n "${POSTFIX_SAMPLE_RELAY:-}" ] &&
        transport="inline:{sample.bench.example=smtp:[127.0.0.1]:$POSTFIX_SAMPLE_RELAY}"
    POSTFIX_CONF=$dir/conf
    mkdir -p "$POSTFIX_CONF" "$dir/queue"
    cat >"$POSTFIX_CONF/main.cf" <<EOF
# Private Postfix for the portcullis benchmarks.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.example
mydomain = bench.example
myorigin = \$mydomain
mydestination = dest.bench.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_milters =
non_smtpd_milters =
milter_default_action = tempfail
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard
default_transport = discard
relay_transport = discard
transport_maps = $transport
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
biff = no
readme_directory = no
html_directory = no
EOF
    {
        for milter in "$@"; do
            if [ "$milter" = none ]; then
                echo "127.0.0.1:$((base + i)) inet n - n - - smtpd"
            else
                echo "127.0.0.1:$((base + i)) inet n - n - - smtpd -o smtpd_milters=$milter"
            fi
            i=$((i + 1))
        done
        cat <<'EOF'
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
smtp      unix  -       -       n       -       -       smtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    } >"$POSTFIX_CONF/master.cf"
    export MAIL_CONFIG=$POSTFIX_CONF
    postfix -c "$POSTFIX_CONF" check >"$dir/check.out" 2>&1 || { cat "$dir/check.out" >&2; return 1; }
    postfix -c "$POSTFIX_CONF" start >"$dir/start.out" 2>&1 || { cat "$dir/start.out" >&2; return 1; }
    wait_for 20 socket_ready "inet:$base@127.0.0.1" || { cat "$dir/start.out" >&2; return 1; }
}

stop_postfix() {
    [ -n "${POSTFIX_CONF:-}" ] || return 0
    local master=""
    [ -f "$WORK/postfix/queue/pid/master.pid" ] && master=$(tr -d ' \n' <"$WORK/postfix/queue/pid/master.pid")
    postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
    [ -n "$master" ] && stop_pids 10 "$master"
    POSTFIX_CONF=""
}

# smtp_run PORT MESSAGES SESSIONS OUT [FILE]: smtp-source against PORT
# (1 KiB messages it makes up, or FILE each time), prints "<seconds>
# <messages per second> <refused>" (refused: smtp-source's complaints
# about non-2xx replies).
smtp_run() {
    local port=$1 messages=$2 sessions=$3 out=$4 content=(-l 1024) start end
    [ -n "${5:-}" ] && content=(-F "$5")
    start=$(date +%s.%N)
    smtp-source -A -s "$sessions" -m "$messages" -r 1 "${content[@]}" -M source.bench.example \
        -f sender@s1.senders.bench.example -t user@dest.bench.example \
        "127.0.0.1:$port" >"$out" 2>&1
    end=$(date +%s.%N)
    "$PYTHON" -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{s:.3f} {int(sys.argv[3])/s:.1f} {sys.argv[4]}')" \
        "$start" "$end" "$messages" "$(grep -c -i -E 'error|reject|[45][0-9][0-9] ' "$out")"
}

# start_smtp_sink NAME PORT [DUMP_DIR]: smtp-sink on 127.0.0.1:PORT, each
# message kept as a file in DUMP_DIR when given; sets PID_<NAME>.
start_smtp_sink() {
    local name=$1 port=$2 dump=${3:-}
    local args=(-u nobody -h sink.bench.example)
    if [ -n "$dump" ]; then
        mkdir -p "$dump"
        chmod 0777 "$dump"
        args+=(-d "$dump/msg.")
    fi
    smtp-sink "${args[@]}" "127.0.0.1:$port" 256 >"$WORK/$name.log" 2>&1 &
    remember_pid $!
    printf -v "PID_$name" '%s' $!
    wait_for 10 socket_ready "inet:$port@127.0.0.1" || { cat "$WORK/$name.log" >&2; return 1; }
}

bench_cleanup() {
    stop_postfix
    stop_nsd
    if [ ${#BENCH_PIDS[@]} -gt 0 ]; then
        # libmilter notices SIGTERM only after its listener's 5 s poll.
        stop_pids 7 "${BENCH_PIDS[@]}"
    fi
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ] && [ -z "${PORTCULLIS_BENCH_KEEP:-}" ]; then
        rm -rf "$WORK"
    elif [ -n "${WORK:-}" ]; then
        echo "bench: kept $WORK" >&2
    fi
}
