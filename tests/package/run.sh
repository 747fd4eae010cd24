#!/bin/bash
# The Debian package end to end: build it (dpkg-buildpackage -us -uc -b in
# a copy of the tree), check it with lintian (no error, no warning),
# install it, start the service (systemctl where systemd runs; elsewhere
# the unit's ExecStartPre and ExecStart lines as its User, without
# capabilities, with NOTIFY_SOCKET, in a /run/portcullis made as
# RuntimeDirectory= would), attach a private Postfix through the unix
# socket (postfix in group portcullis), send one session with swaks,
# reload, stop, then purge and check that the user, the group,
# /var/lib/portcullis and /etc/portcullis are gone.
#
# Usage: tests/package/run.sh [CACHE_DIR]
#   CACHE_DIR (default build-deb in the checkout) holds the copy of the
#   tree and the packages; its meson build directory is kept between
#   runs (dpkg-buildpackage -nc), so a second run rebuilds only what
#   changed; no -dbgsym package (noddebs: compressing its 19 MB takes
#   most of a rebuild's time). The checkout itself is never written to.
#   The first run compiles the daemon (about 100 targets), with
#   PORTCULLIS_PACKAGE_JOBS jobs (default 1: a shared machine).
# Needs root and dpkg-buildpackage, debhelper, lintian, postfix, swaks,
# nsd, dig, setpriv. Skips (saying so) when a tool is missing or a
# portcullis package is installed already. Whatever happens, the package
# is purged at the end and an account portcullis that existed before is
# put back as it was.
# Prints "PASS name" / "FAIL name" per step, then
# "package: N passed, M failed"; exits 1 if a step failed.

set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${1:-$SOURCE_ROOT/build-deb}
INTEGRATION=$SOURCE_ROOT/tests/integration
export PATH=$PATH:/usr/sbin:/sbin

skip() {
    echo "package: skipped: $*"
    echo "package: 0 passed, 0 failed"
    exit 0
}

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (it installs and purges the package)" >&2
    exit 2
fi
missing=""
for tool in dpkg-buildpackage dh lintian apt-get postfix swaks nsd dig setpriv git; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
[ -z "$missing" ] || skip "missing tools:$missing"
if dpkg-query -W -f='${db:Status-Status}' portcullis 2>/dev/null | grep -qv '^not-installed$'; then
    skip "a portcullis package is installed on this machine; not touching it"
fi

# lib.sh's helpers (nsd, private Postfix, swaks, expect_reply) look for
# their zones and scripts in HERE: the integration directory.
HERE=$INTEGRATION
# shellcheck source=tests/integration/lib.sh
. "$INTEGRATION/lib.sh"

UNIT=""
MILTER_PID=""
NOTIFY_PID=""
MADE_RUNTIME_DIRECTORY=""
MADE_POLICY=""
# Seen by the unit despite PrivateTmp= (systemd case).
SHARED_UNBOUND_CONFIG=/run/portcullis-package-test-unbound.conf
SAVED_PASSWD=$(getent passwd portcullis)
SAVED_GROUP=$(getent group portcullis)

# The accounts portcullis as they were before the test (purge removes
# them): same ids, home, shell and group members.
restore_accounts() {
    local uid gid home shell members
    if [ -n "$SAVED_GROUP" ] && ! getent group portcullis >/dev/null; then
        IFS=: read -r _ _ gid members <<<"$SAVED_GROUP"
        groupadd --system --gid "$gid" portcullis
        [ -n "$members" ] && gpasswd --members "$members" portcullis >/dev/null
    fi
    if [ -n "$SAVED_PASSWD" ] && ! getent passwd portcullis >/dev/null; then
        IFS=: read -r _ _ uid gid _ home shell <<<"$SAVED_PASSWD"
        useradd --system --uid "$uid" --gid "$gid" --no-create-home --home-dir "$home" \
            --shell "$shell" portcullis
    fi
}

package_installed() {
    dpkg-query -W -f='${db:Status-Status}' portcullis 2>/dev/null | grep -qv '^not-installed$'
}

cleanup() {
    stop_pid "$MILTER_PID" 10
    stop_pid "$NOTIFY_PID" 2
    stop_postfix
    stop_nsd
    if package_installed; then
        [ -n "$UNIT" ] && systemctl stop portcullis >/dev/null 2>&1
        rm -rf /run/systemd/system/portcullis.service.d
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq portcullis >/dev/null 2>&1
    fi
    [ -n "$MADE_RUNTIME_DIRECTORY" ] && rm -rf /run/portcullis
    [ -n "$MADE_POLICY" ] && rm -f /usr/sbin/policy-rc.d
    rm -f "$SHARED_UNBOUND_CONFIG"
    restore_accounts
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ -n "${PORTCULLIS_PACKAGE_KEEP:-}" ]; then
            echo "package: kept $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORK=$(mktemp -d /tmp/portcullis-package.XXXXXX) || exit 1
chmod 0755 "$WORK"
mkdir -p "$WORK/notes" "$WORK/transcripts"
pick_ports || { echo "package: 0 passed, 1 failed"; exit 1; }

# step NAME FUNCTION: run_case, and stop at the first failure (each step
# needs the one before).
step() {
    local failed_before=$FAILED
    run_case "$1" "$2"
    [ "$FAILED" -eq "$failed_before" ] && return 0
    echo "package: $PASSED passed, $FAILED failed"
    exit 1
}

# --- build and lintian -------------------------------------------------

SOURCE_COPY=$CACHE/portcullis

# The tracked and new (not ignored) files of the checkout, with their
# times, over the last copy; the copy's meson build directory (obj-*)
# stays, so ninja rebuilds what changed.
copy_tree() {
    mkdir -p "$SOURCE_COPY" || return 1
    find "$SOURCE_COPY" -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} + || return 1
    (cd "$SOURCE_ROOT" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$SOURCE_COPY"
}

step_build() {
    local started=$SECONDS
    rm -f "$CACHE"/portcullis_* "$CACHE"/portcullis-dbgsym_*
    copy_tree || { note "    cannot copy the tree to $SOURCE_COPY"; return 1; }
    if ! (cd "$SOURCE_COPY" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=${PORTCULLIS_PACKAGE_JOBS:-1}" \
        dpkg-buildpackage -us -uc -b -nc) >"$WORK/build.log" 2>&1; then
        note "    dpkg-buildpackage failed:"
        note_file "$WORK/build.log"
        return 1
    fi
    DEB=$(find "$CACHE" -maxdepth 1 -name 'portcullis_*.deb' | head -n 1)
    CHANGES=$(find "$CACHE" -maxdepth 1 -name 'portcullis_*.changes' | head -n 1)
    echo "    built in $((SECONDS - started)) s"
    [ -n "$DEB" ] && [ -n "$CHANGES" ] && return 0
    note "    no portcullis_*.deb and .changes in $CACHE"
    return 1
}

step_lintian() {
    lintian --display-info "$CHANGES" >"$WORK/lintian.log" 2>&1
    echo "    lintian: $(grep -c '^E: ' "$WORK/lintian.log") errors," \
        "$(grep -c '^W: ' "$WORK/lintian.log") warnings," \
        "$(grep -c '^[IP]: ' "$WORK/lintian.log") notes"
    grep -E '^[EWIP]: ' "$WORK/lintian.log" | sed 's/^/      /'
    if grep -q '^[EW]: ' "$WORK/lintian.log"; then
        note_file "$WORK/lintian.log" '^[EW]: '
        return 1
    fi
    # lintian itself failing (not a finding) leaves no tag lines either
    if grep -qiE '^(internal error|lintian: )' "$WORK/lintian.log"; then
        note_file "$WORK/lintian.log"
        return 1
    fi
}

# --- install -------------------------------------------------------------

step_install() {
    # Where systemd runs, the package would start the service at once
    # with the shipped configuration, which resolves through the
    # Internet: policy-rc.d keeps it stopped until step_start.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        MADE_POLICY=yes
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$DEB" \
        >"$WORK/install.log" 2>&1
    local status=$?
    [ -n "$MADE_POLICY" ] && rm -f /usr/sbin/policy-rc.d && MADE_POLICY=""
    if [ $status -ne 0 ]; then
        note "    apt-get install failed:"
        note_file "$WORK/install.log"
        return 1
    fi
    local path ok=0
    for path in /usr/sbin/portcullis /usr/share/man/man8/portcullis.8.gz \
        /usr/share/man/man5/portcullis.conf.5.gz /etc/portcullis/portcullis.conf \
        /etc/portcullis/replies.conf /etc/portcullis/generic-rdns.conf \
        /lib/systemd/system/portcullis.service /usr/share/doc/portcullis/README.Debian; do
        [ -e "$path" ] || { note "    not installed: $path"; ok=1; }
    done
    for path in portcullis.conf replies.conf generic-rdns.conf; do
        dpkg-query -W -f='${Conffiles}\n' portcullis | grep -q " /etc/portcullis/$path " ||
            { note "    not a conffile: /etc/portcullis/$path"; ok=1; }
    done
    getent passwd portcullis >/dev/null || { note "    no user portcullis"; ok=1; }
    getent group portcullis >/dev/null || { note "    no group portcullis"; ok=1; }
    [ "$(stat -c '%U:%G %a' /var/lib/portcullis 2>/dev/null)" = "portcullis:portcullis 750" ] ||
        { note "    /var/lib/portcullis: $(stat -c '%U:%G %a' /var/lib/portcullis 2>&1)"; ok=1; }
    return $ok
}

# --- the service ---------------------------------------------------------

# The configuration as shipped, with DNS from the private nsd instead of
# the Internet: the command-line overrides both unit lines get.
OVERRIDES=()
dns_overrides() {
    OVERRIDES=(--resolver.forward="127.0.0.1@$DNS_PORT" --resolver.dnssec=no
        --resolver.unbound-config="$WORK/unbound.conf")
}

unit_line() { sed -n "s/^$1=//p" /lib/systemd/system/portcullis.service | head -n 1; }

start_with_systemd() {
    UNIT=portcullis
    cp "$WORK/unbound.conf" "$SHARED_UNBOUND_CONFIG" && chmod 0644 "$SHARED_UNBOUND_CONFIG"
    OVERRIDES=("${OVERRIDES[@]/#--resolver.unbound-config=*/--resolver.unbound-config=$SHARED_UNBOUND_CONFIG}")
    mkdir -p /run/systemd/system/portcullis.service.d
    {
        echo "[Service]"
        echo "ExecStartPre="
        echo "ExecStartPre=$(unit_line ExecStartPre) ${OVERRIDES[*]}"
        echo "ExecStart="
        echo "ExecStart=$(unit_line ExecStart) ${OVERRIDES[*]}"
    } >/run/systemd/system/portcullis.service.d/test.conf
    if ! systemctl daemon-reload || ! systemctl restart portcullis; then
        journalctl -u portcullis -n 40 --no-pager >>"$CASE_NOTES"
        return 1
    fi
    MILTER_LOG=$WORK/journal.log
}

# Without systemd: the unit's own lines, as its User, with no capability
# and no way to gain one (NoNewPrivileges, CapabilityBoundingSet=), its
# UMask, and NOTIFY_SOCKET to a listener playing systemd's part.
start_without_systemd() {
    local user pre start
    user=$(unit_line User)
    pre=$(unit_line ExecStartPre)
    start=$(unit_line ExecStart)
    if [ "$user" != portcullis ] || [ -z "$pre" ] || [ -z "$start" ]; then
        note "    unit: User=$user ExecStartPre=$pre ExecStart=$start"
        return 1
    fi
    if [ ! -d /run/portcullis ]; then
        install -d -o portcullis -g portcullis -m 0755 /run/portcullis || return 1
        MADE_RUNTIME_DIRECTORY=yes
    fi
    local as_user=(setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs
        --bounding-set=-all --inh-caps=-all --)
    # shellcheck disable=SC2086 # the unit's command lines are words
    if ! (umask "$(unit_line UMask)" && "${as_user[@]}" $pre "${OVERRIDES[@]}") \
        >"$WORK/check-config.log" 2>&1; then
        note "    ExecStartPre ($pre) failed as $user:"
        note_file "$WORK/check-config.log"
        return 1
    fi
    "$PYTHON" "$INTEGRATION/daemon_probe.py" notify-listen "$WORK/notify" \
        /run/portcullis/portcullis.sock "$WORK/notify.out" 60 >"$WORK/notify.log" 2>&1 &
    NOTIFY_PID=$!
    wait_until 5 grep -q '^listening' "$WORK/notify.log" ||
        { note "    notify listener did not start"; return 1; }
    MILTER_LOG=$WORK/portcullis.log
    # shellcheck disable=SC2086
    (umask "$(unit_line UMask)" &&
        exec "${as_user[@]}" env NOTIFY_SOCKET="$WORK/notify" $start "${OVERRIDES[@]}") \
        >"$MILTER_LOG" 2>&1 &
    MILTER_PID=$!
    if ! wait_until 15 grep -q '^READY=1' "$WORK/notify.out"; then
        note "    no READY=1 within 15 s:"
        note_file "$MILTER_LOG"
        return 1
    fi
}

step_start() {
    dns_overrides
    write_unbound_config
    chmod 0644 "$WORK/unbound.conf"
    if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
        start_with_systemd || return 1
    else
        echo "    no systemd as PID 1: running the unit's ExecStartPre and ExecStart lines"
        start_without_systemd || return 1
    fi
    [ -S /run/portcullis/portcullis.sock ] || { note "    no socket in /run/portcullis"; return 1; }
    [ "$(stat -c '%U:%G %a' /run/portcullis/portcullis.sock)" = "portcullis:portcullis 660" ] || {
        note "    socket: $(stat -c '%U:%G %a' /run/portcullis/portcullis.sock)"
        return 1
    }
}

# --- a session through Postfix -------------------------------------------

step_session() {
    # What README.Debian tells the administrator to do.
    adduser --quiet postfix portcullis || return 1
    # shellcheck disable=SC2034 # lib.sh's write_postfix_config reads them
    MILTER_SOCKET=/run/portcullis/portcullis.sock
    # shellcheck disable=SC2034
    MILTER_SOCKET_B=$WORK/unused.sock
    start_nsd || { note "    nsd did not start"; return 1; }
    start_postfix || { note "    postfix did not start"; return 1; }
    # The good client with an invalid HELO name: refused at RCPT with
    # the shipped reply, and logged; the state store is in use.
    smtp helo-syntax 192.0.2.10 good.example.test bad_name.example.test \
        sender@example.test user@dest.test
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<user@dest.test>' 550 5.5.2 || return 1
    [ -n "$UNIT" ] && journalctl -u portcullis --no-pager >"$MILTER_LOG" 2>&1
    expect_log 'helo-syntax' || return 1
    expect_log 'starting portcullis .* as user portcullis'
}

step_reload() {
    if [ -n "$UNIT" ]; then
        systemctl reload portcullis || return 1
        journalctl -u portcullis --no-pager >"$MILTER_LOG" 2>&1
        expect_log 'configuration reloaded'
        return
    fi
    kill -HUP "$MILTER_PID"
    wait_until 10 grep -q 'configuration reloaded' "$MILTER_LOG" ||
        { expect_log 'configuration reloaded'; return 1; }
    wait_until 5 grep -q '^READY=1 STATUS=configuration_reloaded' "$WORK/notify.out" ||
        { note "    no READY=1 after the reload:"; note_file "$WORK/notify.out"; return 1; }
}

step_stop() {
    if [ -n "$UNIT" ]; then
        systemctl stop portcullis
        return
    fi
    kill -TERM "$MILTER_PID"
    local _
    for _ in $(seq 1 100); do
        kill -0 "$MILTER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$MILTER_PID" 2>/dev/null; then
        note "    still running 10 s after SIGTERM"
        return 1
    fi
    wait "$MILTER_PID" || { note "    exit status $? after SIGTERM"; return 1; }
    MILTER_PID=""
    wait_until 5 grep -q '^STOPPING=1' "$WORK/notify.out" ||
        { note "    no STOPPING=1:"; note_file "$WORK/notify.out"; return 1; }
}

# --- purge ---------------------------------------------------------------

step_purge() {
    stop_postfix
    if ! DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq portcullis >"$WORK/purge.log" 2>&1; then
        note "    apt-get purge failed:"
        note_file "$WORK/purge.log"
        return 1
    fi
    local ok=0 path
    package_installed && { note "    still known to dpkg after purge"; ok=1; }
    getent passwd portcullis >/dev/null && { note "    user portcullis left"; ok=1; }
    getent group portcullis >/dev/null && { note "    group portcullis left"; ok=1; }
    for path in /var/lib/portcullis /etc/portcullis /usr/sbin/portcullis; do
        [ -e "$path" ] && { note "    left after purge: $path"; ok=1; }
    done
    return $ok
}

step package-build step_build
step package-lintian step_lintian
step package-install step_install
step package-start step_start
step package-session step_session
step package-reload step_reload
step package-stop step_stop
step package-purge step_purge

echo "package: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
