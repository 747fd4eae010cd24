# shellcheck shell=bash
# SPF (RFC 7208) and sender-domain cases, one function each, run in order
# by run_spf_cases (called from run_all_cases). Sourced by run.sh after
# lib.sh and cases.sh; same PASS/FAIL conventions (see lib.sh).
#
# Sender domains (zones/test.zone): spf-pass.test (pass for 192.0.2.10 and
# 2001:db8::10), spf-a.test (pass through "a"), spf-fail.test (fail, with
# exp=), spf-fail-plain.test (fail, default explanation), spf-permerror.test
# (two SPF records), spf-include-timeout.test (include: of a name that
# times out), spf-timeout.test (asked of the DNS black hole: every lookup
# times out), nullmx.test (MX 0 .), no-such-sender.test (NXDOMAIN).
#
# The spf-suite-* cases serve every scenario of the RFC 7208 conformance
# suite (tests/spf/rfc7208-tests.yml) from a second nsd, one scenario at a
# time (their names overlap), behind a relay that keeps silent for the
# scenario's TIMEOUT names (dns_relay.py --silent), and check `portcullis spf`
# through the real libunbound path against each test (spf_suite.py).

SPF_SUITE=$SOURCE_ROOT/tests/spf/rfc7208-tests.yml
GOOD_IP=192.0.2.10
GOOD_NAME=good.example.test

# spf_session OUT_NAME FROM [TO [swaks options...]]: a session of the good client.
spf_session() {
    smtp "$1" "$GOOD_IP" "$GOOD_NAME" "$GOOD_NAME" "$2" "${3:-$TO}" "${@:4}"
}

# no_5xx: the last transcript holds no 5xx reply.
no_5xx() {
    if grep -a -q -E '^<\*\* 5' "$LAST_TRANSCRIPT"; then
        note "    a 5xx reply where only 4xx may come:"
        note_transcript "$LAST_TRANSCRIPT"
        return 1
    fi
}

# mailbox_headers SUBJECT: the header lines of the delivered message with
# SUBJECT in the harness's mailbox (empty until it arrives).
mailbox_headers() {
    "$PYTHON" - "$WORK/postfix/mail/sink" "$1" <<'PY'
import sys
path, subject = sys.argv[1:3]
try:
    text = open(path, encoding="utf-8", errors="replace").read()
except OSError:
    sys.exit(0)
message, messages = [], []
for line in text.split("\n"):
    if line.startswith("From ") and message:
        messages.append(message)
        message = []
    message.append(line)
messages.append(message)
for message in messages:
    headers = []
    for line in message[1:]:
        if line == "":
            break
        headers.append(line)
    if any(h.lower().startswith("subject:") and subject in h for h in headers):
        print("\n".join(headers))
PY
}

# --- through Postfix ---------------------------------------------------

# SPF pass: accepted, and the delivered message carries Received-SPF: pass.
case_spf_pass_accepted_with_header() {
    use_milter "$ENFORCE_CONF" || return 1
    local subject="portcullis integration spf pass $$" headers _
    SMTP_QUIT_AFTER='' spf_session spf-pass someone@spf-pass.test "$TO" \
        --header "Subject: $subject"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    for _ in $(seq 1 100); do
        headers=$(mailbox_headers "$subject")
        [ -n "$headers" ] && break
        sleep 0.1
    done
    if [ -z "$headers" ]; then
        note "    the message did not reach $WORK/postfix/mail/sink; mail log:"
        note_file "$WORK/postfix/maillog"
        return 1
    fi
    if ! grep -q '^Received-SPF: pass' <<<"$headers"; then
        note "    no header line starting 'Received-SPF: pass'; the delivered headers:"
        printf '%s\n' "$headers" | sed 's/^/      /' >>"$CASE_NOTES"
        return 1
    fi
    milter_alive
}

# The domain has only an A record: it exists, and "a" designates it.
case_spf_a_mechanism_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session spf-a someone@spf-a.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_spf_pass_ipv6_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    if [ "$INET_PROTOCOLS" != all ]; then
        note "    no IPv6 in this kernel: Postfix refuses XCLIENT ADDR=IPV6:..."
        return 1
    fi
    smtp spf-pass6 IPV6:2001:db8::10 good6.example.test good6.example.test \
        someone@spf-pass.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

# SPF fail: MAIL is accepted, RCPT gets 550 5.7.23 with the exp= text.
case_spf_fail_rejected_with_exp() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session spf-fail someone@spf-fail.test
    expect_reply "$LAST_TRANSCRIPT" "MAIL FROM:" 250 &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.23 spf-fail &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.23 \
            "192\.0\.2\.10 is not one of spf-fail\.test's designated mail servers" &&
        expect_log 'client=192\.0\.2\.10 .*rule=spf-fail' && milter_alive
}

case_spf_fail_default_explanation() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session spf-fail-plain someone@spf-fail-plain.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.23 spf-fail &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.23 \
            'does not designate .*as a permitted sender' && milter_alive
}

case_spf_fail_postmaster_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session spf-fail-postmaster someone@spf-fail.test "postmaster@dest.test,$TO"
    expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<postmaster@dest.test>' 250 &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.23 spf-fail && milter_alive
}

case_spf_permerror_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session spf-permerror someone@spf-permerror.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.24 spf-permerror && milter_alive
}

# spf_temperror_case NAME SENDER: 451 4.7.24 spf-temperror, never 5xx, in time.
spf_temperror_case() {
    use_milter "$ENFORCE_CONF" || return 1
    local start elapsed
    start=$(date +%s)
    spf_session "$1" "$2"
    elapsed=$(($(date +%s) - start))
    no_5xx || return 1
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.24 spf-temperror || return 1
    if [ "$elapsed" -ge 25 ]; then
        note "    the session took ${elapsed}s (Postfix gives a milter 30s per command)"
        return 1
    fi
    milter_alive
}

# The sender domain exists; an include: target's TXT lookup times out.
case_spf_temperror_include_timeout() {
    spf_temperror_case spf-temperror-include someone@spf-include-timeout.test
}

# Every lookup of the sender domain itself times out.
case_spf_temperror_domain_timeout() {
    spf_temperror_case spf-temperror-domain someone@spf-timeout.test
}

case_sender_domain_missing_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session sender-domain-missing someone@no-such-sender.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.1.8 sender-domain-missing &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.1.8 'does not exist' && milter_alive
}

case_sender_null_mx_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    spf_session sender-null-mx someone@nullmx.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.27 sender-null-mx && milter_alive
}

# --- portcullis spf / portcullis check ---------------------------------

# spf_json OUT IP SENDER [HELO [CONFIG]]: `portcullis spf ... --json` into
# $WORK/transcripts/OUT (stderr to OUT.err, exit status to OUT.status).
spf_json() {
    local out=$WORK/transcripts/$1
    "$MILTER_BIN" spf --ip "$2" --sender "$3" --helo "${4:-$GOOD_NAME}" --json \
        -c "${5:-$ENFORCE_CONF}" >"$out" 2>"$out.err"
    echo $? >"$out.status"
}

# json_expect FILE PYTHON_CONDITIONS...: every condition (a Python
# expression over `j`, the JSON object in FILE) must hold.
json_expect() {
    local file=$1 why
    shift
    why=$("$PYTHON" - "$file" "$@" <<'PY'
import json, sys
path, conditions = sys.argv[1], sys.argv[2:]
try:
    with open(path) as f:
        j = json.load(f)
except Exception as error:
    print("not one JSON object: %s" % error)
    sys.exit(0)
for condition in conditions:
    try:
        good = eval(condition, {"j": j})
    except Exception as error:
        good, condition = False, "%s (%s)" % (condition, error)
    if not good:
        print("not true: %s" % condition)
PY
    )
    [ -z "$why" ] && return 0
    note "    $(basename "$file"): $why"
    note_file "$file"
    note_file "$file.err"
    note "    exit status $(cat "$file.status" 2>/dev/null)"
    return 1
}

SPF_KEYS='all(k in j for k in ("result", "explanation", "mechanism", "problem", "dns_lookups", "void_lookups", "identity", "domain", "sender", "client"))'

case_spf_cli_help() {
    have_milter || return 1
    local out=$WORK/transcripts/spf-help status
    "$MILTER_BIN" spf --help >"$out" 2>&1
    status=$?
    # Without an spf command, --help would reach the daemon's own help.
    if [ "$status" -eq 0 ] && grep -q -e '--sender' "$out"; then return 0; fi
    note "    portcullis spf --help: exit $status, wanted 0 and a help naming --sender:"
    note_file "$out"
    return 1
}

# `portcullis spf` over the harness's zones (nsd through libunbound).
case_spf_cli_harness_zones() {
    have_milter || return 1
    local ok=0 t=$WORK/transcripts
    spf_json spf-cli-pass "$GOOD_IP" someone@spf-pass.test
    json_expect "$t/spf-cli-pass" "$SPF_KEYS" 'j["result"] == "pass"' \
        '"ip4:192.0.2.10" in j["mechanism"]' 'j["domain"] == "spf-pass.test"' \
        'j["sender"] == "someone@spf-pass.test"' 'j["client"] == "192.0.2.10"' \
        'j["dns_lookups"] == 0' || ok=1
    spf_json spf-cli-pass6 2001:db8::10 someone@spf-pass.test good6.example.test
    json_expect "$t/spf-cli-pass6" "$SPF_KEYS" 'j["result"] == "pass"' \
        '"ip6:2001:db8::10" in j["mechanism"]' || ok=1
    spf_json spf-cli-a "$GOOD_IP" someone@spf-a.test
    json_expect "$t/spf-cli-a" "$SPF_KEYS" 'j["result"] == "pass"' 'j["dns_lookups"] == 1' \
        || ok=1
    spf_json spf-cli-fail "$GOOD_IP" someone@spf-fail.test
    json_expect "$t/spf-cli-fail" "$SPF_KEYS" 'j["result"] == "fail"' \
        'j["explanation"] == "192.0.2.10 is not one of spf-fail.test'"'"'s designated mail servers"' \
        'j["mechanism"] == "-all"' || ok=1
    spf_json spf-cli-fail-plain "$GOOD_IP" someone@spf-fail-plain.test
    json_expect "$t/spf-cli-fail-plain" "$SPF_KEYS" 'j["result"] == "fail"' \
        '"does not designate" in j["explanation"] and "192.0.2.10" in j["explanation"]' || ok=1
    spf_json spf-cli-permerror "$GOOD_IP" someone@spf-permerror.test
    json_expect "$t/spf-cli-permerror" "$SPF_KEYS" 'j["result"] == "permerror"' \
        'j["problem"] != ""' || ok=1
    spf_json spf-cli-temperror "$GOOD_IP" someone@spf-include-timeout.test
    json_expect "$t/spf-cli-temperror" "$SPF_KEYS" 'j["result"] == "temperror"' \
        'j["problem"] != ""' || ok=1
    spf_json spf-cli-nullmx "$GOOD_IP" someone@nullmx.test
    json_expect "$t/spf-cli-nullmx" "$SPF_KEYS" 'j["result"] == "none"' || ok=1
    spf_json spf-cli-nxdomain "$GOOD_IP" someone@no-such-sender.test
    json_expect "$t/spf-cli-nxdomain" "$SPF_KEYS" 'j["result"] == "none"' || ok=1
    # The null sender: postmaster@HELO, the HELO name as domain.
    spf_json spf-cli-null-sender "$GOOD_IP" '' spf-pass.test
    json_expect "$t/spf-cli-null-sender" "$SPF_KEYS" 'j["result"] == "pass"' \
        'j["sender"] == "postmaster@spf-pass.test"' 'j["domain"] == "spf-pass.test"' || ok=1
    return $ok
}

# `portcullis check --json` shows the SPF check and its decision.
case_spf_check_cli_shows_spf() {
    have_milter || return 1
    local ok=0 t=$WORK/transcripts sender
    for sender in someone@spf-fail.test someone@spf-pass.test; do
        "$MILTER_BIN" check --ip "$GOOD_IP" --helo "$GOOD_NAME" --from "$sender" \
            --rcpt "$TO" --json -c "$ENFORCE_CONF" >"$t/spf-check-$sender" \
            2>"$t/spf-check-$sender.err"
        echo $? >"$t/spf-check-$sender.status"
    done
    json_expect "$t/spf-check-someone@spf-fail.test" 'j["verdict"] == "reject"' \
        'j["rule"] == "spf-fail"' 'str(j["code"]) == "550"' 'j["status"] == "5.7.23"' \
        '"designated mail servers" in j["text"]' \
        'any("spf" in (c["name"] + c["rule"]) and c["result"] == "fail" for c in j["checks"])' ||
        ok=1
    json_expect "$t/spf-check-someone@spf-pass.test" 'j["verdict"] in ("continue", "accept")' \
        'any("spf" in (c["name"] + c["rule"]) and c["result"] == "pass" for c in j["checks"])' ||
        ok=1
    return $ok
}

# --- the RFC 7208 suite over real DNS ----------------------------------

# spf_suite_case SLUG DESCRIPTION: serve the scenario, run its tests.
spf_suite_case() {
    have_milter || return 1
    local slug=$1 description=$2 dir=$WORK/spf-suite/$1 out status
    out=$WORK/transcripts/spf-suite-$slug
    mkdir -p "$dir"
    if ! "$PYTHON" "$HERE/spf_suite.py" zone "$SPF_SUITE" "$description" "$dir" \
        >"$out.zone" 2>&1; then
        note "    could not serve scenario '$description' (python3-yaml installed?):"
        note_file "$out.zone"
        return 1
    fi
    if ! start_suite_nsd "$dir/root.zone"; then
        note "    the suite nsd did not start:"
        note_file "$WORK/nsd-suite/nsd.out"
        note_file "$WORK/nsd-suite/nsd.log"
        stop_suite_nsd
        return 1
    fi
    if ! start_suite_relay "$dir/timeouts.txt"; then
        note "    the relay for the TIMEOUT names did not start:"
        note_file "$WORK/nsd-suite/relay.log"
        stop_suite_nsd
        return 1
    fi
    write_milter_config "$dir/portcullis.conf" "$WORK/milter/unused.sock" enforce \
        "$SUITE_RELAY_PORT" "$dir/unbound.conf"
    # The suite's driver conventions: its tests expect "DEFAULT" where the
    # default explanation applies, and %{r} = receiver.example.
    printf '%s\n' '[spf]' 'default-explanation = DEFAULT' 'receiver = receiver.example' \
        >>"$dir/portcullis.conf"
    "$PYTHON" "$HERE/spf_suite.py" run "$dir" "$MILTER_BIN" "$dir/portcullis.conf" \
        >"$out" 2>&1
    status=$?
    stop_suite_relay
    stop_suite_nsd
    if [ "$status" -eq 0 ] && grep -q '^DONE .* 0 failed$' "$out"; then
        return 0
    fi
    note "    scenario '$description' (zonedata served from $dir/root.zone):"
    grep -a -E '^(FAIL|DONE|Traceback|[A-Za-z]*Error)' "$out" | head -n 40 |
        sed 's/^/      /' >>"$CASE_NOTES"
    return 1
}

case_spf_suite_initial() { spf_suite_case initial "Initial processing"; }
case_spf_suite_record_lookup() { spf_suite_case record-lookup "Record lookup"; }
case_spf_suite_record_evaluation() { spf_suite_case record-evaluation "Record evaluation"; }
case_spf_suite_all() { spf_suite_case all "ALL mechanism syntax"; }
case_spf_suite_a() { spf_suite_case a "A mechanism syntax"; }
case_spf_suite_ip4() { spf_suite_case ip4 "IP4 mechanism syntax"; }
case_spf_suite_ip6() { spf_suite_case ip6 "IP6 mechanism syntax"; }
case_spf_suite_bugs() { spf_suite_case bugs "Test cases from implementation bugs"; }
case_spf_suite_include() { spf_suite_case include "Include mechanism semantics and syntax"; }
case_spf_suite_mx() { spf_suite_case mx "MX mechanism syntax"; }
case_spf_suite_ptr() { spf_suite_case ptr "PTR mechanism syntax"; }
case_spf_suite_exists() { spf_suite_case exists "EXISTS mechanism syntax"; }
case_spf_suite_macros() { spf_suite_case macros "Macro expansion rules"; }
case_spf_suite_exp_modifiers() { spf_suite_case exp-modifiers "Semantics of exp and other modifiers"; }
case_spf_suite_limits() { spf_suite_case limits "Processing limits"; }
case_spf_suite_selecting() { spf_suite_case selecting "Selecting records"; }

run_spf_cases() {
    run_case spf-pass-accepted-with-header case_spf_pass_accepted_with_header
    run_case spf-a-mechanism-accepted case_spf_a_mechanism_accepted
    run_case spf-pass-ipv6-accepted case_spf_pass_ipv6_accepted
    run_case spf-fail-rejected-with-exp case_spf_fail_rejected_with_exp
    run_case spf-fail-default-explanation case_spf_fail_default_explanation
    run_case spf-fail-postmaster-accepted case_spf_fail_postmaster_accepted
    run_case spf-permerror-rejected case_spf_permerror_rejected
    run_case spf-temperror-include-timeout case_spf_temperror_include_timeout
    run_case spf-temperror-domain-timeout case_spf_temperror_domain_timeout
    run_case sender-domain-missing-rejected case_sender_domain_missing_rejected
    run_case sender-null-mx-rejected case_sender_null_mx_rejected
    run_case spf-cli-help case_spf_cli_help
    run_case spf-cli-harness-zones case_spf_cli_harness_zones
    run_case spf-check-cli-shows-spf case_spf_check_cli_shows_spf
    # The suite's scenarios (the longest cases) in two sections.
    case_section spf-suite
    run_case spf-suite-initial case_spf_suite_initial
    run_case spf-suite-record-lookup case_spf_suite_record_lookup
    run_case spf-suite-selecting case_spf_suite_selecting
    run_case spf-suite-record-evaluation case_spf_suite_record_evaluation
    run_case spf-suite-all case_spf_suite_all
    run_case spf-suite-ptr case_spf_suite_ptr
    run_case spf-suite-a case_spf_suite_a
    run_case spf-suite-include case_spf_suite_include
    case_section spf-suite-continued
    run_case spf-suite-mx case_spf_suite_mx
    run_case spf-suite-exists case_spf_suite_exists
    run_case spf-suite-ip4 case_spf_suite_ip4
    run_case spf-suite-ip6 case_spf_suite_ip6
    run_case spf-suite-exp-modifiers case_spf_suite_exp_modifiers
    run_case spf-suite-macros case_spf_suite_macros
    run_case spf-suite-limits case_spf_suite_limits
    run_case spf-suite-bugs case_spf_suite_bugs
}
