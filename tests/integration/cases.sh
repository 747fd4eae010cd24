# shellcheck shell=bash
# The integration cases, one function each, run in order by run_all_cases.
# Sourced by run.sh after lib.sh. A case returns 0 to pass; on failure it
# leaves the transcript lines that show why in $CASE_NOTES (see lib.sh).
#
# Clients (see zones/): 192.0.2.10 good.example.test (confirmed PTR);
# .20 PTR forged.example.test (A is .21); .30 no PTR; .40/.41 listed in
# bl.test; .42 listed with a code outside the filter; .66 in [deny];
# .77 in [allow] (no PTR); .99 in trusted-networks (no PTR);
# 2001:db8::10 good6.example.test; 2001:db8::30 no PTR.

RCPT='RCPT TO:<user@dest.test>'
FROM=sender@example.test
TO=user@dest.test

# --- without the milter ------------------------------------------------

case_dns_zones_served() {
    local zone answer ok=0
    for zone in $ZONES; do
        if ! nsd-checkzone "$zone" "$HERE/zones/$zone.zone" >>"$CASE_NOTES" 2>&1; then ok=1; fi
    done
    answer=$(dig +short +norec @127.0.0.1 -p "$DNS_PORT" 10.2.0.192.in-addr.arpa PTR)
    [ "$answer" = "good.example.test." ] || { note "    PTR 192.0.2.10: '$answer'"; ok=1; }
    answer=$(dig +norec @127.0.0.1 -p "$DNS_PORT" 30.2.0.192.in-addr.arpa PTR | grep -o 'status: [A-Z]*')
    [ "$answer" = "status: NXDOMAIN" ] || { note "    PTR 192.0.2.30: '$answer'"; ok=1; }
    answer=$(dig +short +norec @127.0.0.1 -p "$DNS_PORT" 40.2.0.192.bl.test TXT)
    [[ $answer == *"ip=192.0.2.40"* ]] || { note "    TXT 40.2.0.192.bl.test: '$answer'"; ok=1; }
    answer=$(dig +short +norec @127.0.0.1 -p "$DNS_PORT" -x 2001:db8::10)
    [ "$answer" = "good6.example.test." ] || { note "    PTR 2001:db8::10: '$answer'"; ok=1; }
    return $ok
}

# milter_default_action = tempfail: with the milter down Postfix says 451.
case_postfix_milter_down_tempfails() {
    stop_milter
    smtp milter-down 192.0.2.10 good.example.test good.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "MAIL FROM:" 451 4.7.1
}

# --- configuration check (-n) ------------------------------------------

case_config_check_good() {
    have_milter || return 1
    local out=$WORK/transcripts/config-good
    if "$MILTER_BIN" -n -c "$ENFORCE_CONF" >"$out" 2>&1; then return 0; fi
    note "    portcullis -n -c $ENFORCE_CONF exited non-zero:"
    note_file "$out"
    return 1
}

# config_check_bad NAME OPTION_REGEX LINES...: the good config plus LINES,
# the last of them wrong, must make `portcullis -n` fail naming FILE:LINE
# (LINE the last one) and OPTION_REGEX.
config_check_bad() {
    local option=$2 file=$WORK/$1.conf out=$WORK/transcripts/$1 status line
    shift 2
    write_milter_config "$file" "$WORK/milter/unused.sock"
    printf '%s\n' "$@" >>"$file"
    line=$(wc -l <"$file")
    "$MILTER_BIN" -n -c "$file" >"$out" 2>&1
    status=$?
    if [ "$status" -ne 0 ] && grep -q -F -- "$file:$line" "$out" && grep -q -E -- "$option" "$out"; then
        return 0
    fi
    note "    portcullis -n -c $file: exit $status, wanted non-zero naming $file:$line and /$option/:"
    note_file "$out"
    note "    the config's last lines:"
    tail -n 3 "$file" | sed 's/^/      /' >>"$CASE_NOTES"
    return 1
}

case_config_check_misspelt_option() {
    have_milter || return 1
    config_check_bad config-misspelt 'zonee' '[dnsbl]' 'zonee = x'
}

case_config_check_bad_dnsbl_entry() {
    have_milter || return 1
    config_check_bad config-bad-dnsbl 'zone' '[dnsbl]' 'zone = bl.test=127.0.0.[2..'
}

# --- defect: -n runs every load step of a start and a reload -----------

# line_of FILE REGEX: the number of the first line of FILE matching REGEX.
line_of() { grep -n -m 1 -E -- "$2" "$1" | cut -d: -f1; }

# config_check_errors NAME FILE [ARGS...] -- PREFIX...: `portcullis -n -c
# FILE ARGS` must exit 78 (EX_CONFIG, as a start does) and print, for each
# PREFIX (such as "FILE:LINE: OPTION: "), a line that starts with it.
config_check_errors() {
    local name=$1 file=$2 out=$WORK/transcripts/$1 status prefix ok=0
    local args=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    "$MILTER_BIN" -n -c "$file" "${args[@]}" >"$out" 2>&1
    status=$?
    if [ "$status" -ne 78 ]; then
        note "    portcullis -n -c $file${args[*]:+ ${args[*]}}: exit $status, wanted 78"
        ok=1
    fi
    for prefix in "$@"; do
        if ! awk -v p="$prefix" 'index($0, p) == 1 { found = 1 } END { exit !found }' "$out"; then
            note "    no line starts with '$prefix'"
            ok=1
        fi
    done
    if [ "$ok" -ne 0 ]; then
        note "    its output:"
        note_file "$out"
    fi
    return $ok
}

# A start reads the replies file; -n said "configuration OK" without it.
case_defect_n_missing_replies_file() {
    have_milter || return 1
    local file=$WORK/n-replies.conf
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i "s|^replies-file = .*|replies-file = $WORK/missing/replies.conf|" "$file"
    config_check_errors n-missing-replies "$file" -- \
        "$file:$(line_of "$file" '^replies-file = '): replies-file: $WORK/missing/replies.conf: "
}

# A second pattern file that is missing, on a line of its own: the error
# names that line.
case_defect_n_missing_patterns_file() {
    have_milter || return 1
    local file=$WORK/n-patterns.conf line
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i "/^generic-rdns-patterns = /a generic-rdns-patterns = $WORK/missing/generic-rdns.conf" "$file"
    line=$(line_of "$file" "^generic-rdns-patterns = $WORK/missing/")
    config_check_errors n-missing-patterns "$file" -- \
        "$file:$line: generic-rdns-patterns: $WORK/missing/generic-rdns.conf: "
}

# A pattern file with a bad line: the check's load() reports it at start.
case_defect_n_bad_patterns_file() {
    have_milter || return 1
    local file=$WORK/n-bad-patterns.conf patterns=$WORK/bad-generic-rdns.conf
    printf '%s\n' 'token dyn' 'regex (unclosed' >"$patterns"
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i "s|^generic-rdns-patterns = .*|generic-rdns-patterns = $patterns|" "$file"
    config_check_errors n-bad-patterns "$file" -- \
        "$file:$(line_of "$file" '^generic-rdns-patterns = '): generic-rdns-patterns: $patterns:2: "
}

# With DNSSEC on, a start reads the trust anchor file.
case_defect_n_missing_trust_anchor() {
    have_milter || return 1
    local file=$WORK/n-anchor.conf
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i "s|^dnssec = no$|dnssec = yes\ntrust-anchor = $WORK/missing/root.key|" "$file"
    config_check_errors n-missing-anchor "$file" -- \
        "$file:$(line_of "$file" '^trust-anchor = '): resolver.trust-anchor: "
}

# libunbound refuses an unbound.conf with an unknown option at start.
case_defect_n_bad_unbound_config() {
    have_milter || return 1
    local file=$WORK/n-unbound.conf unbound=$WORK/bad-unbound.conf
    printf '%s\n' 'server:' '    no-such-unbound-option: yes' >"$unbound"
    write_milter_config "$file" "$WORK/milter/unused.sock" enforce "$DNS_PORT" "$unbound"
    config_check_errors n-bad-unbound "$file" -- \
        "$file:$(line_of "$file" '^unbound-config = '): resolver.unbound-config: "
}

# A start switches to user and group: both must exist.
case_defect_n_unknown_user() {
    have_milter || return 1
    local file=$WORK/n-user.conf
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i "/^user = /d" "$file"
    sed -i '2i user = portcullis-no-such-user\ngroup = portcullis-no-such-group' "$file"
    config_check_errors n-unknown-user "$file" -- \
        "$file:2: user: " "$file:3: group: "
}

# One run reports every error, each where it was set: a line of the
# file, the command line, or an option's default.
case_defect_n_collects_errors() {
    have_milter || return 1
    local file=$WORK/n-several.conf
    write_milter_config "$file" "$WORK/milter/unused.sock"
    sed -i '/^replies-file = /d' "$file" # its default, replies.conf beside the file, is missing
    sed -i "/^user = /d" "$file"
    sed -i '2i user = portcullis-no-such-user' "$file"
    sed -i "/^generic-rdns-patterns = /a generic-rdns-patterns = $WORK/missing/generic-rdns.conf" "$file"
    sed -i "s|^dnssec = no$|dnssec = yes\ntrust-anchor = $WORK/missing/root.key|" "$file"
    printf '%s\n' '[dnsbl]' 'zonee = x' '[deny]' 'sender = spam*@bad.test' >>"$file"
    config_check_errors n-several "$file" --resolver.timeout=soon -- \
        "$file:2: user: " \
        "$file:$(line_of "$file" "^generic-rdns-patterns = $WORK/missing/"): generic-rdns-patterns: " \
        "$file:$(line_of "$file" '^trust-anchor = '): resolver.trust-anchor: " \
        "$file:$(line_of "$file" '^zonee = '): dnsbl.zonee: unknown option" \
        "$file:$(line_of "$file" '^sender = spam'): deny.sender: " \
        "default: replies-file: $WORK/replies.conf: " \
        "command line: resolver.timeout: "
}

# Started without -f, portcullis detached first and read the replies
# file afterwards: the start said 0 and the daemon died unseen. It must
# exit 78 itself, saying why on standard error.
case_defect_start_missing_replies_file() {
    have_milter || return 1
    local file=$WORK/start-replies.conf out=$WORK/transcripts/start-missing-replies status
    write_milter_config "$file" "$WORK/milter/start-unused.sock"
    sed -i "s|^replies-file = .*|replies-file = $WORK/missing/replies.conf|" "$file"
    timeout 20 "$MILTER_BIN" -c "$file" >"$out" 2>&1
    status=$?
    if [ "$status" -eq 78 ] && grep -q -F "replies-file: $WORK/missing/replies.conf" "$out"; then
        return 0
    fi
    note "    portcullis -c $file (detaching): exit $status, wanted 78 and the error on stderr:"
    note_file "$out"
    return 1
}

# deny.sender and exempt-recipients share one address-pattern syntax:
# an entry that can match no address is an error.
case_defect_n_unmatchable_sender_pattern() {
    have_milter || return 1
    config_check_bad config-unmatchable-sender 'deny\.sender' '[deny]' 'sender = spam*@bad.test'
}

# --- enforce mode through Postfix --------------------------------------

case_good_client_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    SMTP_QUIT_AFTER='' smtp good-client 192.0.2.10 good.example.test good.example.test \
        "$FROM" "$TO" --header 'Subject: portcullis integration good client'
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 || return 1
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    local i
    for i in $(seq 1 100); do
        grep -q 'portcullis integration good client' "$WORK/postfix/mail/sink" 2>/dev/null && break
        sleep 0.1
    done
    if ! grep -q 'portcullis integration good client' "$WORK/postfix/mail/sink" 2>/dev/null; then
        note "    the message did not reach $WORK/postfix/mail/sink; mail log:"
        note_file "$WORK/postfix/maillog"
        return 1
    fi
    milter_alive
}

case_rdns_missing_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp rdns-missing 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.25 rdns-missing && milter_alive
}

case_decision_logged() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp decision-no-ptr 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    smtp decision-forged 192.0.2.20 '[UNAVAILABLE]' forged.example.test "$FROM" "$TO"
    # stage= names the stage whose check decided (connect for reverse DNS).
    expect_log 'client=192\.0\.2\.30 .*stage=[a-z]+ rule=rdns-missing action=reject code="?550 5\.7\.25' &&
        expect_log 'client=192\.0\.2\.20 .*stage=[a-z]+ rule=rdns-unconfirmed action=tempfail code="?450 4\.7\.25'
}

case_rdns_unconfirmed_tempfailed() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp rdns-unconfirmed 192.0.2.20 '[UNAVAILABLE]' forged.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 450 4.7.25 rdns-unconfirmed && milter_alive
}

case_dnsbl_listed_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp dnsbl-listed 192.0.2.40 listed.example.test listed.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.1 'dnsbl-listed' &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.1 \
            'Listed, see http://bl\.test/lookup\?ip=192\.0\.2\.40' && milter_alive
}

# The TXT holds '100%', a BEL and a DEL: '%' must survive (the milter has
# to send it as '%%'), the control characters must not reach the client.
case_dnsbl_txt_sanitized() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp dnsbl-txt 192.0.2.41 listed2.example.test listed2.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.1 'dnsbl-listed' &&
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.1 'Listed 100%' || return 1
    if reply_to "$LAST_TRANSCRIPT" "$RCPT" | LC_ALL=C grep -q '[[:cntrl:]]'; then
        note "    control characters in the reply:"
        reply_to "$LAST_TRANSCRIPT" "$RCPT" | od -c | head -n 20 | sed 's/^/      /' >>"$CASE_NOTES"
        return 1
    fi
    milter_alive
}

case_dnsbl_code_outside_filter_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp dnsbl-outside-filter 192.0.2.42 listed3.example.test listed3.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_postmaster_exempt_from_listed_client() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp exempt 192.0.2.40 listed.example.test listed.example.test "$FROM" \
        "$TO,postmaster@dest.test,abuse@dest.test"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.1 dnsbl-listed &&
        expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<postmaster@dest.test>' 250 &&
        expect_reply "$LAST_TRANSCRIPT" 'RCPT TO:<abuse@dest.test>' 250 && milter_alive
}

case_helo_syntax_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp helo-syntax 192.0.2.10 good.example.test bad_name.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.5.2 helo-syntax && milter_alive
}

case_helo_literal_matching_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp helo-literal-ok 192.0.2.10 good.example.test '[192.0.2.10]' "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_helo_ipv6_literal_matching_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    if [ "$INET_PROTOCOLS" != all ]; then
        note "    no IPv6 in this kernel: Postfix refuses XCLIENT ADDR=IPV6:..."
        return 1
    fi
    smtp helo-literal6-ok IPV6:2001:db8::10 good6.example.test '[IPv6:2001:db8::10]' "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_helo_literal_mismatch_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp helo-literal-bad 192.0.2.10 good.example.test '[192.0.2.11]' "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' helo-literal-mismatch && milter_alive
}

case_helo_claims_us_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp helo-claims-us 192.0.2.10 good.example.test mx.dest.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' helo-claims-us && milter_alive
}

# Only a CNAME behind the HELO name: helo-unresolvable is "log" by default.
case_helo_cname_only_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp helo-cname 192.0.2.10 good.example.test alias.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

# swaks cannot send two EHLOs; smtp_dialogue.py can.
two_ehlo_session() { # NAME SECOND_HELO
    smtp_dialogue "$1" 'EHLO localhost' 'XCLIENT ADDR=192.0.2.10 NAME=good.example.test' \
        'EHLO good.example.test' "EHLO $2" "MAIL FROM:<$FROM>" "$RCPT" 'QUIT'
}

case_helo_changed_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    two_ehlo_session helo-changed other.example.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' helo-changed && milter_alive
}

case_helo_repeated_same_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    two_ehlo_session helo-repeated good.example.test
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

# Beyond session.max-helos (10), the EHLO that goes beyond gets the
# session-budget 421, and Postfix closes the session on it.
case_session_budget_closes_session() {
    use_milter "$ENFORCE_CONF" || return 1
    local ehlos=() i
    for i in $(seq 1 11); do ehlos+=("EHLO h$i.attacker.test"); done
    smtp_dialogue session-budget 'EHLO localhost' \
        'XCLIENT ADDR=192.0.2.10 NAME=good.example.test' "${ehlos[@]}" "MAIL FROM:<$FROM>"
    expect_reply "$LAST_TRANSCRIPT" 'EHLO h10.attacker.test' 250 || return 1
    expect_reply "$LAST_TRANSCRIPT" 'EHLO h11.attacker.test' 421 4.7.0 session-budget || return 1
    # The MAIL sent after it finds the connection closed, unanswered.
    if ! grep -a -q '^\*\*\* connection closed by server' "$LAST_TRANSCRIPT" ||
        [ -n "$(reply_to "$LAST_TRANSCRIPT" MAIL)" ]; then
        note "    Postfix did not close the session after the 421:"
        note_transcript "$LAST_TRANSCRIPT"
        return 1
    fi
    expect_log 'rule=session-budget .*budget=helos limit=10 ' && milter_alive
}

case_trusted_client_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp trusted 192.0.2.99 '[UNAVAILABLE]' host99.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 &&
        expect_log 'client=192\.0\.2\.99 .*trusted' && milter_alive
}

# XCLIENT LOGIN= sets the SASL login; Postfix passes {auth_authen} at MAIL.
# The log must say why the client without PTR passed.
case_authenticated_client_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp authenticated 192.0.2.30 '[UNAVAILABLE] LOGIN=alice' host30.example.test \
        "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 &&
        expect_log 'client=192\.0\.2\.30 .*authenticated' && milter_alive
}

case_allow_network_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp allow-network 192.0.2.77 '[UNAVAILABLE]' host77.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 &&
        expect_log 'client=192\.0\.2\.77 .*allow' && milter_alive
}

case_deny_network_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp deny-network 192.0.2.66 denied.example.test denied.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' deny-network && milter_alive
}

case_deny_sender_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    smtp deny-sender 192.0.2.10 good.example.test good.example.test someone@bad.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' deny-sender && milter_alive
}

# deny.sender = *@bad.test, the spelling exempt-recipients uses for a
# domain, passed -n but never matched: it must refuse someone@bad.test.
case_defect_deny_sender_star_pattern() {
    have_milter || return 1
    local conf=$WORK/deny-star.conf out=$WORK/transcripts/deny-star-check
    write_milter_config "$conf" "$MILTER_SOCKET"
    sed -i 's/^sender = @bad\.test$/sender = *@bad.test/' "$conf"
    if ! grep -q -x -F 'sender = *@bad.test' "$conf"; then
        note "    $conf has no line 'sender = *@bad.test'"
        return 1
    fi
    if ! "$MILTER_BIN" -n -c "$conf" >"$out" 2>&1; then
        note "    portcullis -n -c $conf exited non-zero:"
        note_file "$out"
        return 1
    fi
    use_milter "$conf" || return 1
    smtp deny-sender-star 192.0.2.10 good.example.test good.example.test someone@bad.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 '' deny-sender && milter_alive
}

case_ipv6_good_client_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    if [ "$INET_PROTOCOLS" != all ]; then
        note "    no IPv6 in this kernel: Postfix refuses XCLIENT ADDR=IPV6:..."
        return 1
    fi
    smtp ipv6-good IPV6:2001:db8::10 good6.example.test good6.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_ipv6_rdns_missing_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    if [ "$INET_PROTOCOLS" != all ]; then
        note "    no IPv6 in this kernel: Postfix refuses XCLIENT ADDR=IPV6:..."
        return 1
    fi
    smtp ipv6-no-ptr IPV6:2001:db8::30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.25 rdns-missing && milter_alive
}

# `portcullis check` must reach the decision the live milter reached.
case_check_cli_matches_milter() {
    use_milter "$ENFORCE_CONF" || return 1
    local client ip helo json live_reply live_code live_status want ok=0
    for client in 192.0.2.10:good.example.test 192.0.2.20:forged.example.test \
        192.0.2.30:host30.example.test 192.0.2.40:listed.example.test; do
        ip=${client%%:*}
        helo=${client#*:}
        smtp "check-live-$ip" "$ip" '[UNAVAILABLE]' "$helo" "$FROM" "$TO"
        live_reply=$(reply_to "$LAST_TRANSCRIPT" "$RCPT")
        live_status=$(printf '%s\n' "$live_reply" | tail -n 1)
        live_code=${live_status:0:3}
        live_status=$(printf '%s\n' "$live_status" | awk '{ print $2 }')
        json=$WORK/transcripts/check-cli-$ip
        "$MILTER_BIN" check --ip "$ip" --helo "$helo" --from "$FROM" --rcpt "$TO" --json \
            -c "$ENFORCE_CONF" >"$json" 2>"$json.err"
        want=$("$PYTHON" - "$json" "$live_code" "$live_status" "$live_reply" <<'EOF'
import json, sys
path, code, status, reply = sys.argv[1:5]
try:
    with open(path) as f:
        result = json.load(f)
except Exception as error:
    print("not one JSON object: %s" % error)
    sys.exit(0)
missing = [k for k in ("verdict", "stage", "code", "status", "text", "rule", "checks")
           if k not in result]
if missing:
    print("missing keys: %s" % " ".join(missing))
    sys.exit(0)
verdict = result["verdict"]
if code.startswith("2"):
    good = verdict in ("continue", "accept")
else:
    expected = {"4": "tempfail", "5": "reject"}.get(code[:1])
    good = (verdict == expected and str(result["code"]) == code
            and str(result["status"]) == status and result["rule"] != ""
            and result["rule"] in reply)
if not good:
    print("check says verdict=%s code=%s status=%s rule=%s; milter said %s %s"
          % (verdict, result["code"], result["status"], result["rule"], code, status))
EOF
        )
        if [ -n "$want" ]; then
            note "    $ip: $want"
            note_file "$json"
            note_file "$json.err"
            ok=1
        fi
    done
    return $ok
}

# --- other configurations ----------------------------------------------

case_dry_run_accepts_and_logs() {
    use_milter "$DRY_RUN_CONF" || return 1
    smtp dry-run 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 &&
        expect_log 'rule=rdns-missing .*dry-run=yes|dry-run=yes.*rule=rdns-missing' && milter_alive
}

case_sighup_reloads_config() {
    have_milter || return 1
    local conf=$WORK/sighup.conf
    write_milter_config "$conf" "$MILTER_SOCKET" enforce
    stop_milter
    start_milter "$conf" "$MILTER_SOCKET" || return 1
    smtp sighup-before 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.25 rdns-missing || return 1
    sed -i 's/^mode = enforce$/mode = dry-run/' "$conf"
    kill -HUP "$MILTER_PID"
    local i
    for i in $(seq 1 20); do
        sleep 0.25
        smtp sighup-after 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
        [[ $(reply_to "$LAST_TRANSCRIPT" "$RCPT" | tail -n 1) == 250* ]] && break
    done
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive || return 1
    [ -S "$MILTER_SOCKET" ] || { note "    the socket vanished after SIGHUP"; return 1; }
}

# A config broken on disk at SIGHUP: the running one stays in force.
case_sighup_bad_config_keeps_running() {
    have_milter || return 1
    local conf=$WORK/sighup-bad.conf
    write_milter_config "$conf" "$MILTER_SOCKET" enforce
    stop_milter
    start_milter "$conf" "$MILTER_SOCKET" || return 1
    printf '%s\n' '[dnsbl]' 'zone = bl.test=127.0.0.[2..' >>"$conf"
    sed -i 's/^mode = enforce$/mode = dry-run/' "$conf"
    kill -HUP "$MILTER_PID"
    sleep 1
    milter_alive || return 1
    smtp sighup-bad 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.25 rdns-missing && milter_alive
}

# A reload runs the load steps of -n: a user that does not exist, which
# -n refuses, keeps the running configuration (and says so, with its line).
case_sighup_refuses_what_n_refuses() {
    have_milter || return 1
    local conf=$WORK/sighup-user.conf
    write_milter_config "$conf" "$MILTER_SOCKET" enforce
    stop_milter
    start_milter "$conf" "$MILTER_SOCKET" || return 1
    sed -i "/^user = /d" "$conf"
    sed -i '2i user = portcullis-no-such-user' "$conf"
    sed -i 's/^mode = enforce$/mode = dry-run/' "$conf"
    kill -HUP "$MILTER_PID"
    sleep 1
    milter_alive || return 1
    smtp sighup-user 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 550 5.7.25 rdns-missing && milter_alive || return 1
    expect_log "configuration: $conf:2: user: user 'portcullis-no-such-user' does not exist"
}

# A DNS server that never answers: 4xx, never 5xx, in time. The reply is
# 451 4.4.3 (a lookup error) or, since SPF temperror is a rule of its own
# that tempfails (and the policy prefers a rule's tempfail over a bare DNS
# error), 451 4.7.24 naming spf-temperror or spf-helo-temperror.
case_dns_timeout_tempfails() {
    use_milter "$TIMEOUT_CONF" || return 1
    local start elapsed
    start=$(date +%s)
    smtp dns-timeout 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    elapsed=$(($(date +%s) - start))
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 '(4\.4\.3|4\.7\.24)' || return 1
    if [[ $(reply_to "$LAST_TRANSCRIPT" "$RCPT" | tail -n 1) == "451 4.7.24"* ]]; then
        expect_reply "$LAST_TRANSCRIPT" "$RCPT" 451 4.7.24 'spf(-helo)?-temperror' || return 1
    fi
    if grep -a -q -E '^<\*\* 5' "$LAST_TRANSCRIPT"; then
        note "    a 5xx reply while DNS timed out:"
        note_transcript "$LAST_TRANSCRIPT"
        return 1
    fi
    if [ "$elapsed" -ge 25 ]; then
        note "    the session took ${elapsed}s (Postfix gives a milter 30s per command)"
        return 1
    fi
    milter_alive
}

# Nobody listens on the port: ICMP port unreachable, also never 5xx.
case_dns_closed_port_tempfails() {
    use_milter "$CLOSED_CONF" || return 1
    smtp dns-closed 192.0.2.30 '[UNAVAILABLE]' host30.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" '4[0-9][0-9]' && milter_alive
}

# --- milter protocol edge cases ----------------------------------------

# count_script_cases PREFIX OUTPUT STATUS: each PASS/FAIL line a script
# printed counts as one case PREFIX-name; a missing DONE is one more FAIL.
count_script_cases() {
    local prefix=$1 out=$2 status=$3 line
    while IFS= read -r line; do
        case $line in
        PASS\ *) echo "PASS $prefix-${line#PASS }"; PASSED=$((PASSED + 1)) ;;
        FAIL\ *) echo "FAIL $prefix-${line#FAIL }"; FAILED=$((FAILED + 1)) ;;
        \ \ *) echo "$line" ;;
        esac
    done <"$out"
    if [ "$status" -ne 0 ] || ! grep -q '^DONE' "$out"; then
        echo "FAIL $prefix-script"
        echo "  exited $status without finishing; its last lines:"
        tail -n 20 "$out" | sed 's/^/    /'
        echo "  milter log:"
        tail -n 20 "$MILTER_LOG" | sed 's/^/    /'
        FAILED=$((FAILED + 1))
    fi
}

# milter.lua (miltertest) and milter_raw.py against a milter of their own,
# on its own socket, with the same DNS as the Postfix cases.
run_protocol_cases() {
    section_mine || return 0
    if [ -n "${CASE_FILTER:-}" ] && ! [[ miltertest-milter-raw =~ $CASE_FILTER ]]; then
        return 0
    fi
    local out=$WORK/transcripts socket=$WORK/milter/mt.sock status
    CASE_NOTES=$WORK/notes/protocol
    : >"$CASE_NOTES"
    stop_milter
    write_milter_config "$WORK/protocol.conf" "$socket"
    if ! start_milter "$WORK/protocol.conf" "$socket"; then
        echo "FAIL miltertest"
        cat "$CASE_NOTES"
        FAILED=$((FAILED + 1))
        return
    fi
    # miltertest buffers its output; stdbuf keeps what it printed before a crash.
    (cd "$HERE" && stdbuf -oL miltertest -s milter.lua -D "socket=unix:$socket" \
        -D "pid=$MILTER_PID") >"$out/miltertest" 2>&1
    status=$?
    count_script_cases miltertest "$out/miltertest" "$status"
    "$PYTHON" "$HERE/milter_raw.py" "unix:$socket" "$MILTER_PID" "$MILTER_LOG" \
        >"$out/milter-raw" 2>&1
    status=$?
    count_script_cases milter-raw "$out/milter-raw" "$status"
    stop_milter
}

# --- shutdown ----------------------------------------------------------

# Exit status 0 within 10 s (defect-sigterm-slow holds it to 1 s).

# The socket is bound and the PID file written as root, then the milter
# runs as nobody:nogroup and still answers Postfix.
case_privileges_dropped() {
    local conf=$WORK/privileges.conf uid
    write_milter_config "$conf" "$MILTER_SOCKET"
    { printf '%s\n' 'user = nobody' 'group = nogroup'; sed '/^user = /d' "$conf"; } >"$conf.new" &&
        mv "$conf.new" "$conf"
    use_milter "$conf" || return 1
    uid=$(id -u nobody)
    if ! grep -Eq "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" \
        "/proc/$MILTER_PID/status"; then
        note "    the milter still runs as: $(grep '^Uid:' "/proc/$MILTER_PID/status")"
        return 1
    fi
    # Bound by root with the service group as its effective group: no
    # chown by path afterwards (defect-pid-file-symlink).
    if [ "$(stat -c %G "$MILTER_SOCKET")" != nogroup ]; then
        note "    socket group is $(stat -c %G "$MILTER_SOCKET"), not nogroup"
        return 1
    fi
    if [ "$(cat "$conf.pid" 2>/dev/null)" != "$MILTER_PID" ]; then
        note "    PID file holds '$(cat "$conf.pid" 2>/dev/null)', not $MILTER_PID"
        return 1
    fi
    smtp privileges 192.0.2.10 good.example.test good.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 && milter_alive
}

case_sigterm_exits() {
    use_milter "$ENFORCE_CONF" || return 1
    local pid=$MILTER_PID i status
    kill -TERM "$pid"
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "    still running 10s after SIGTERM"
        stop_milter
        return 1
    fi
    wait "$pid"
    status=$?
    MILTER_PID=""
    MILTER_CONFIG_RUNNING=""
    if [ "$status" -ne 0 ]; then
        note "    exit status $status after SIGTERM; log:"
        note_file "$MILTER_LOG"
        return 1
    fi
}

run_all_cases() {
    ENFORCE_CONF=$WORK/enforce.conf
    DRY_RUN_CONF=$WORK/dry-run.conf
    TIMEOUT_CONF=$WORK/dns-timeout.conf
    CLOSED_CONF=$WORK/dns-closed.conf
    write_milter_config "$ENFORCE_CONF" "$MILTER_SOCKET" enforce
    write_milter_config "$DRY_RUN_CONF" "$MILTER_SOCKET" dry-run
    write_milter_config "$TIMEOUT_CONF" "$MILTER_SOCKET" enforce "$BLACKHOLE_PORT"
    write_milter_config "$CLOSED_CONF" "$MILTER_SOCKET" enforce "$CLOSED_PORT"
    start_blackhole || echo "integration: the DNS black hole did not start" >&2

    # Sections (lib.sh, case_section): groups of cases that need nothing
    # from the cases of another section; parallel groups share them out.
    case_section configuration
    run_case dns-zones-served case_dns_zones_served
    run_case postfix-milter-down-tempfails case_postfix_milter_down_tempfails
    run_case config-check-good case_config_check_good
    run_case config-check-misspelt-option case_config_check_misspelt_option
    run_case config-check-bad-dnsbl-entry case_config_check_bad_dnsbl_entry
    run_case defect-n-unmatchable-sender-pattern case_defect_n_unmatchable_sender_pattern
    run_case defect-n-missing-replies-file case_defect_n_missing_replies_file
    run_case defect-n-missing-patterns-file case_defect_n_missing_patterns_file
    run_case defect-n-bad-patterns-file case_defect_n_bad_patterns_file
    run_case defect-n-missing-trust-anchor case_defect_n_missing_trust_anchor
    run_case defect-n-bad-unbound-config case_defect_n_bad_unbound_config
    run_case defect-n-unknown-user case_defect_n_unknown_user
    run_case defect-n-collects-errors case_defect_n_collects_errors
    run_case defect-start-missing-replies-file case_defect_start_missing_replies_file
    case_section clients
    run_case good-client-accepted case_good_client_accepted
    run_case rdns-missing-rejected case_rdns_missing_rejected
    run_case rdns-unconfirmed-tempfailed case_rdns_unconfirmed_tempfailed
    run_case decision-logged case_decision_logged
    run_case dnsbl-listed-rejected case_dnsbl_listed_rejected
    run_case dnsbl-txt-sanitized case_dnsbl_txt_sanitized
    run_case dnsbl-code-outside-filter-accepted case_dnsbl_code_outside_filter_accepted
    run_case postmaster-exempt-from-listed-client case_postmaster_exempt_from_listed_client
    run_case helo-syntax-rejected case_helo_syntax_rejected
    run_case helo-literal-matching-accepted case_helo_literal_matching_accepted
    run_case helo-ipv6-literal-matching-accepted case_helo_ipv6_literal_matching_accepted
    run_case helo-literal-mismatch-rejected case_helo_literal_mismatch_rejected
    run_case helo-claims-us-rejected case_helo_claims_us_rejected
    run_case helo-cname-only-accepted case_helo_cname_only_accepted
    run_case helo-changed-rejected case_helo_changed_rejected
    run_case helo-repeated-same-accepted case_helo_repeated_same_accepted
    run_case session-budget-closes-session case_session_budget_closes_session
    run_case trusted-client-accepted case_trusted_client_accepted
    run_case authenticated-client-accepted case_authenticated_client_accepted
    run_case allow-network-accepted case_allow_network_accepted
    run_case deny-network-rejected case_deny_network_rejected
    run_case deny-sender-rejected case_deny_sender_rejected
    run_case defect-deny-sender-star-pattern case_defect_deny_sender_star_pattern
    run_case ipv6-good-client-accepted case_ipv6_good_client_accepted
    run_case ipv6-rdns-missing-rejected case_ipv6_rdns_missing_rejected
    case_section cli-and-reload
    run_case check-cli-matches-milter case_check_cli_matches_milter
    run_case dry-run-accepts-and-logs case_dry_run_accepts_and_logs
    run_case sighup-reloads-config case_sighup_reloads_config
    run_case sighup-bad-config-keeps-running case_sighup_bad_config_keeps_running
    run_case sighup-refuses-what-n-refuses case_sighup_refuses_what_n_refuses
    run_case dns-timeout-tempfails case_dns_timeout_tempfails
    run_case dns-closed-port-tempfails case_dns_closed_port_tempfails
    case_section spf
    run_spf_cases
    case_section message
    run_message_cases
    case_section protocol
    run_protocol_cases
    case_section daemon
    run_case privileges-dropped case_privileges_dropped
    run_case sigterm-exits case_sigterm_exits
    run_daemon_cases
    run_memory_cases
    case_section memory-fault
    run_memory_fault_cases
    run_metrics_cases
}
