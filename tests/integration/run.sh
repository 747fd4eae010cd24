#!/bin/bash
# Integration tests: portcullis attached to a private Postfix, with DNS from
# a private nsd, driven by swaks, plus miltertest protocol edge cases.
#
# Usage: tests/integration/run.sh BUILD_DIR [CASE_REGEX]
#   BUILD_DIR/milter/portcullis is the milter under test. CASE_REGEX, if
#   given, runs only the cases whose names match (bash regex).
# Environment: PORTCULLIS_IT_KEEP=1 keeps the temporary directory (configs,
#   transcripts, logs); PORTCULLIS_IT_PORT_BASE=N uses ports N..N+7;
#   PORTCULLIS_IT_JOBS=N runs the cases in N groups side by side, each
#   with servers of its own (lib.sh, run_groups), and prints the same
#   lines and counts as a serial run, in the same order, at the end.
#
# Needs root and the Debian packages postfix, swaks, miltertest, nsd,
# dnsutils, python3-yaml, redis-server; the Sendmail cases also m4 and
# Debian's sendmail-bin, unpacked into BUILD_DIR/sendmail (fetched there
# with apt-get download when missing; without it they are skipped).
# Everything runs on 127.0.0.1 under a temporary directory and is
# stopped on exit; /etc/postfix and system services are left alone.
# Prints "PASS name" / "FAIL name" per case, then
# "integration: N passed, M failed"; exits 1 if any case failed.

# shellcheck source-path=SCRIPTDIR
set -u
set -o pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [CASE_REGEX]" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (a private Postfix instance needs it)" >&2
    exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(cd "$1" 2>/dev/null && pwd) || BUILD_DIR=$1
MILTER_BIN=$BUILD_DIR/milter/portcullis
CASE_FILTER=${2:-}

missing=""
for tool in nsd nsd-checkconf nsd-checkzone postfix swaks miltertest dig python3 stdbuf curl \
    redis-server redis-cli; do
    PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "$0: missing tools:$missing" >&2
    exit 2
fi
export PATH=$PATH:/usr/sbin:/sbin

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=cases.sh
. "$HERE/cases.sh"
# shellcheck source=spf_cases.sh
. "$HERE/spf_cases.sh"
# shellcheck source=message_cases.sh
. "$HERE/message_cases.sh"
# shellcheck source=daemon_cases.sh
. "$HERE/daemon_cases.sh"
# shellcheck source=memory_cases.sh
. "$HERE/memory_cases.sh"
# shellcheck source=memory_fault_cases.sh
. "$HERE/memory_fault_cases.sh"
# shellcheck source=sendmail_cases.sh
. "$HERE/sendmail_cases.sh"
# shellcheck source=metrics_cases.sh
. "$HERE/metrics_cases.sh"

# Groups side by side (lib.sh, run_groups): this process only gathers.
if [ "${PORTCULLIS_IT_JOBS:-1}" -gt 1 ] && [ -z "$IT_SHARED" ]; then
    run_groups "$PORTCULLIS_IT_JOBS" "$@"
    exit
fi

trap cleanup EXIT
trap 'exit 130' INT TERM

if ! setup_environment; then
    echo "integration: 0 passed, 1 failed"
    exit 1
fi

run_all_cases
case_section sendmail
run_sendmail_cases
end_sections

echo "integration: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
