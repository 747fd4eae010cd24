# shellcheck shell=bash
# The Sendmail cases: portcullis attached to a real Sendmail (Debian's
# sendmail-bin, unpacked by fetch_sendmail in scripts/packages.sh, never
# installed: it conflicts with postfix) through INPUT_MAIL_FILTER, in a
# .cf that m4 builds from a .mc with sendmail-cf's cf.m4. Run by
# run_sendmail_cases (from run.sh) after the Postfix cases.
#
# Each scenario is one of the Postfix cases' connect, HELO, MAIL or SPF
# scenarios. Sendmail has no XCLIENT, so clients are told apart by the
# loopback address they connect from (swaks --local-interface), with DNS
# in zones/0.0.127.in-addr.arpa.zone mirroring the 192.0.2.x clients:
# 127.0.0.10 confirmed PTR, .20 PTR not confirmed, .30 no PTR, .40 listed
# in bl.test. Every scenario runs twice against one milter: through the
# private Postfix, presenting the same address with XCLIENT, and through
# Sendmail. Both replies must match the expectation, which is the one of
# the Postfix case, and be the same: a refusal (the milter's reply) the
# same lines, code, enhanced status and text, apart from the recipient
# Sendmail names in 450/550/553 replies (sendmail_milter_text); an
# acceptance, the MTA's own text, the same code and status.
#
# Sendmail runs as a foreground daemon (-bD) on 127.0.0.1, port N+8 (or
# the next free one), with its queue, pid and status files under
# $WORK/sendmail, delivery mode "queue" (accepted mail stays in the
# scratch queue; nothing is delivered) and no DNS of its own for hosts
# (service switch: hosts files); its reverse lookup of the client goes to
# the system resolver and only fills in its own log lines.

SENDMAIL_ROOT=${PORTCULLIS_IT_SENDMAIL_ROOT:-$BUILD_DIR/sendmail}
SENDMAIL_BIN=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
SENDMAIL_DIR=""
SENDMAIL_PID=""
SENDMAIL_PORT=""
SENDMAIL_MILTER_CONF=""
# The milter timeouts of the tested INPUT_MAIL_FILTER line, as README.md
# and portcullis(8) show them: R (a reply) above resolver.stage-budget,
# which the RCPT and end-of-message stages may wait (at most 25s).
SENDMAIL_FILTER_TIMEOUTS='C:10s;S:30s;R:30s;E:1m'

# sendmail_command: SENDMAIL_COMMAND, the command line that runs the
# unpacked sendmail, in a UTS namespace of its own named mx.dest.test when
# unshare(1) may make one (SENDMAIL_UTS=yes). Sendmail wants a qualified
# name for its host before it reads its .cf; a host called "vm" or
# "runner" (no dot, no dotted alias) costs 60 s of "My unqualified host
# name (vm) unknown; sleeping for retry" at every start. unshare and sh
# exec, so a process started with it in the background is sendmail's.
SENDMAIL_UTS=no
SENDMAIL_COMMAND=()
sendmail_command() {
    SENDMAIL_UTS=no
    unshare --uts true 2>/dev/null && SENDMAIL_UTS=yes
    if [ "$SENDMAIL_UTS" = yes ]; then
        SENDMAIL_COMMAND=(unshare --uts sh -c 'hostname mx.dest.test && exec "$@"' sh
            "$SENDMAIL_BIN")
    else
        SENDMAIL_COMMAND=("$SENDMAIL_BIN")
    fi
}

# sendmail_obtainable: the unpacked binary is there (fetching it if not)
# and has the milter client built in. Says why not on stdout.
sendmail_obtainable() {
    if [ ! -x "$SENDMAIL_BIN" ]; then
        # shellcheck source=../../scripts/packages.sh
        . "$SOURCE_ROOT/scripts/packages.sh"
        fetch_sendmail "$SENDMAIL_ROOT" ||
            { echo "could not download and unpack sendmail-bin into $SENDMAIL_ROOT"; return 1; }
    fi
    sendmail_command
    local compiled
    # The compile options come first; -C /dev/null then stops it.
    compiled=$("${SENDMAIL_COMMAND[@]}" -d0.1 -bt -C /dev/null </dev/null 2>&1)
    if ! grep -q -w MILTER <<<"$compiled"; then
        echo "$SENDMAIL_BIN does not run or has no MILTER: $(head -n 1 <<<"$compiled")"
        return 1
    fi
    command -v m4 >/dev/null || { echo "m4 is missing"; return 1; }
}

# A free port for Sendmail's daemon: N+8 upwards.
pick_sendmail_port() {
    local port
    for port in $(seq $((SMTP_PORT + 8)) $((SMTP_PORT + 40))); do
        if ports_free "$port"; then
            SENDMAIL_PORT=$port
            return 0
        fi
    done
    return 1
}

# write_sendmail_config DIR: DIR/sendmail.mc and the DIR/sendmail.cf m4
# builds from it.
write_sendmail_config() {
    local dir=$1
    mkdir -p "$dir/queue"
    chmod 0700 "$dir/queue"
    echo 'hosts files' >"$dir/service.switch"
    echo '127.0.0.1 localhost mx.dest.test' >"$dir/hosts"
    : >"$dir/helpfile"
    : >"$dir/statistics"
    cat >"$dir/sendmail.mc" <<EOF
divert(-1)
Private Sendmail for the portcullis integration tests (sendmail_cases.sh).
divert(0)dnl
include(\`$SENDMAIL_ROOT/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(\`portcullis integration')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.dest.test')dnl
define(\`confSMTP_LOGIN_MSG', \`\$j portcullis-integration')dnl
define(\`confSERVICE_SWITCH_FILE', \`$dir/service.switch')dnl
define(\`confHOSTS_FILE', \`$dir/hosts')dnl
define(\`QUEUE_DIR', \`$dir/queue')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`STATUS_FILE', \`$dir/statistics')dnl
define(\`confPID_FILE', \`$dir/sendmail.pid')dnl
define(\`confHELP_FILE', \`$dir/helpfile')dnl
define(\`confDELIVERY_MODE', \`queue')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confDONT_PROBE_INTERFACES', \`true')dnl
define(\`confBAD_RCPT_THROTTLE', \`0')dnl
define(\`confMILTER_LOG_LEVEL', \`6')dnl
dnl The milter socket is under /tmp (world-writable, sticky): Sendmail
dnl refuses a socket path through such a directory unless told so.
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
RELAY_DOMAIN(\`dest.test')dnl
DAEMON_OPTIONS(\`Family=inet, Addr=127.0.0.1, Port=$SENDMAIL_PORT, Name=MTA')dnl
INPUT_MAIL_FILTER(\`portcullis', \`S=unix:$MILTER_SOCKET, F=T, T=$SENDMAIL_FILTER_TIMEOUTS')dnl
MAILER(\`smtp')dnl
EOF
    m4 "$dir/sendmail.mc" >"$dir/sendmail.cf" 2>"$dir/m4.err" && [ ! -s "$dir/m4.err" ]
}

start_sendmail() {
    SENDMAIL_DIR=$WORK/sendmail
    pick_sendmail_port || { note "    no free port for Sendmail"; return 1; }
    if ! write_sendmail_config "$SENDMAIL_DIR"; then
        note "    m4 could not build sendmail.cf:"
        note_file "$SENDMAIL_DIR/m4.err"
        return 1
    fi
    "${SENDMAIL_COMMAND[@]}" -bD -C "$SENDMAIL_DIR/sendmail.cf" -L sendmail-portcullis-it \
        >"$SENDMAIL_DIR/sendmail.out" 2>&1 &
    SENDMAIL_PID=$!
    # 15 s, or 80 s where it sleeps 60 s over its host name (sendmail_command).
    local wait=15
    [ "$SENDMAIL_UTS" = yes ] || wait=80
    if ! wait_until "$wait" tcp_listening "$SENDMAIL_PORT"; then
        note "    Sendmail did not listen on 127.0.0.1:$SENDMAIL_PORT:"
        note_file "$SENDMAIL_DIR/sendmail.out"
        stop_sendmail
        return 1
    fi
}

# The daemon is the process started (-bD does not fork); its PID file
# must name the same one, or else a process of this run's .cf.
stop_sendmail() {
    local pid_file=$SENDMAIL_DIR/sendmail.pid written=""
    [ -n "$SENDMAIL_DIR" ] && [ -f "$pid_file" ] && written=$(head -n 1 "$pid_file")
    stop_pid "$SENDMAIL_PID" 5
    if [[ $written =~ ^[0-9]+$ ]] && [ "$written" != "$SENDMAIL_PID" ] &&
        tr '\0' ' ' <"/proc/$written/cmdline" 2>/dev/null | grep -q -F "$SENDMAIL_DIR/sendmail.cf"; then
        stop_pid "$written" 5
    fi
    SENDMAIL_PID=""
}

sendmail_stop_all() { stop_sendmail; }

# sendmail_session OUT_NAME ADDR HELO FROM TO [swaks options...]: one
# session with the private Sendmail from the loopback address ADDR;
# quits after RCPT unless SMTP_QUIT_AFTER says otherwise.
sendmail_session() {
    local out=$WORK/transcripts/$1 addr=$2 helo=$3 from=$4 to=$5
    local quit=${SMTP_QUIT_AFTER-RCPT}
    shift 5
    LAST_TRANSCRIPT=$out
    swaks --server "127.0.0.1:$SENDMAIL_PORT" --local-interface "$addr" --timeout 60 \
        --helo "$helo" --from "$from" --to "$to" \
        ${quit:+--quit-after "$quit"} "$@" >"$out" 2>&1
    return 0
}

# sendmail_milter_text ADDRESS: the reply lines on stdin without the
# "<ADDRESS>... " that Sendmail puts after the status of the first line
# of a 450, 550 or 553 reply (its fmtmsg() names the recipient of the
# RCPT for those codes, and for 050, 250 and 252; the milter's text
# follows unchanged). Other codes (451, 421, ...) come as the milter sent them.
sendmail_milter_text() {
    awk -v prefix="<$1>... " '
        NR == 1 && match($0, /^(450|550|553)[ -][245]\.[0-9]+\.[0-9]+ /) &&
            substr($0, RLENGTH + 1, length(prefix)) == prefix {
            $0 = substr($0, 1, RLENGTH) substr($0, RLENGTH + 1 + length(prefix))
        }
        { print }'
}

# same_reply POSTFIX_FILE SENDMAIL_FILE COMMAND_PREFIX: both MTAs gave
# the same reply to COMMAND_PREFIX: a refusal (the milter's reply) the
# same lines, apart from Sendmail's "<recipient>... " (see
# sendmail_milter_text); an acceptance, which is the MTA's own text
# ("Ok", "<user@dest.test>... Recipient ok"), the same code and status.
same_reply() {
    local command=$3 postfix sendmail address
    address=${command#*<}
    address=${address%%>*}
    postfix=$(reply_to "$1" "$command")
    sendmail=$(reply_to "$2" "$command" | sendmail_milter_text "$address")
    if [[ $postfix == 2* ]]; then
        postfix=$(tail -n 1 <<<"$postfix" | cut -c1-9)
        sendmail=$(tail -n 1 <<<"$sendmail" | cut -c1-9)
    fi
    [ "$postfix" = "$sendmail" ] && return 0
    note "    the replies to '$command' differ; Postfix:"
    printf '%s\n' "$postfix" | sed 's/^/      /' >>"$CASE_NOTES"
    note "    Sendmail (without its \"<$address>... \"):"
    printf '%s\n' "$sendmail" | sed 's/^/      /' >>"$CASE_NOTES"
    return 1
}

# both_mtas NAME ADDR HELO FROM TO COMMAND CODE [STATUS [TEXT_REGEX]]:
# the scenario through Postfix (XCLIENT ADDR) and through Sendmail (from
# ADDR); each reply to COMMAND must be the expected one, and both the same.
# The transcripts stay in POSTFIX_TRANSCRIPT and SENDMAIL_TRANSCRIPT.
both_mtas() {
    local name=$1 addr=$2 helo=$3 from=$4 to=$5 command=$6
    shift 6
    use_milter "$SENDMAIL_MILTER_CONF" || return 1
    smtp "$name-postfix" "$addr" '[UNAVAILABLE]' "$helo" "$from" "$to"
    POSTFIX_TRANSCRIPT=$LAST_TRANSCRIPT
    sendmail_session "$name-sendmail" "$addr" "$helo" "$from" "$to"
    SENDMAIL_TRANSCRIPT=$LAST_TRANSCRIPT
    both_expect "$command" "$@" &&
        same_reply "$POSTFIX_TRANSCRIPT" "$SENDMAIL_TRANSCRIPT" "$command" && milter_alive
}

# both_expect COMMAND CODE [STATUS [TEXT_REGEX]]: expect_reply on both
# transcripts of the last both_mtas.
both_expect() {
    expect_reply "$POSTFIX_TRANSCRIPT" "$@" || { note "    (through Postfix)"; return 1; }
    expect_reply "$SENDMAIL_TRANSCRIPT" "$@" || { note "    (through Sendmail)"; return 1; }
}

# --- the scenarios -----------------------------------------------------

SM_RCPT='RCPT TO:<user@dest.test>'
SM_GOOD=127.0.0.10

# Sendmail takes the whole message: 250 at RCPT and after DATA, and the
# queued message (its qf file holds the header) carries the fields the
# milter added, just below Sendmail's own Received:.
case_sendmail_clean_accept() {
    use_milter "$SENDMAIL_MILTER_CONF" || return 1
    local subject="portcullis integration through Sendmail $$" queued order
    SMTP_QUIT_AFTER='' sendmail_session sm-clean "$SM_GOOD" lo-good.example.test "$FROM" "$TO" \
        --header "Subject: $subject"
    expect_reply "$LAST_TRANSCRIPT" "EHLO" 250 '' 'mx\.dest\.test' &&
        expect_reply "$LAST_TRANSCRIPT" "$SM_RCPT" 250 &&
        expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'accepted for delivery' || return 1
    queued=$(grep -a -l -F "Subject: $subject" "$SENDMAIL_DIR"/queue/qf* 2>/dev/null | head -n 1)
    if [ -z "$queued" ]; then
        note "    no queue file in $SENDMAIL_DIR/queue holds the message"
        return 1
    fi
    order=$(grep -a -o -E '^H\?\?(Received|Authentication-Results|Received-SPF):' "$queued" |
        tr '\n' ' ')
    if [ "$order" != 'H??Received: H??Authentication-Results: H??Received-SPF: ' ]; then
        note "    header fields of the queued message: '$order'; wanted Received:,"
        note "    then the milter's Authentication-Results: and Received-SPF:"
        note_file "$queued"
        return 1
    fi
    grep -a -q '^H??Received-SPF: pass ' "$queued" ||
        { note "    no 'Received-SPF: pass' in $queued"; note_file "$queued"; return 1; }
    expect_log 'client=127\.0\.0\.10 ' && milter_alive
}

case_sendmail_good_client() {
    both_mtas sm-good "$SM_GOOD" lo-good.example.test "$FROM" "$TO" "$SM_RCPT" 250
}

case_sendmail_rdns_missing() {
    both_mtas sm-rdns-missing 127.0.0.30 host30.example.test "$FROM" "$TO" "$SM_RCPT" \
        550 5.7.25 rdns-missing
}

case_sendmail_rdns_unconfirmed() {
    both_mtas sm-rdns-unconfirmed 127.0.0.20 lo-forged.example.test "$FROM" "$TO" "$SM_RCPT" \
        450 4.7.25 rdns-unconfirmed
}

case_sendmail_dnsbl_listed() {
    both_mtas sm-dnsbl 127.0.0.40 lo-listed.example.test "$FROM" "$TO" "$SM_RCPT" \
        550 5.7.1 dnsbl-listed &&
        both_expect "$SM_RCPT" 550 5.7.1 'Listed, see http://bl\.test/lookup\?ip=127\.0\.0\.40'
}

case_sendmail_postmaster_exempt() {
    both_mtas sm-exempt 127.0.0.40 lo-listed.example.test "$FROM" postmaster@dest.test \
        'RCPT TO:<postmaster@dest.test>' 250
}

case_sendmail_helo_syntax() {
    both_mtas sm-helo-syntax "$SM_GOOD" bad_name.example.test "$FROM" "$TO" "$SM_RCPT" \
        550 5.5.2 helo-syntax
}

case_sendmail_helo_literal_matching() {
    both_mtas sm-helo-literal-ok "$SM_GOOD" '[127.0.0.10]' "$FROM" "$TO" "$SM_RCPT" 250
}

case_sendmail_helo_literal_mismatch() {
    both_mtas sm-helo-literal-bad "$SM_GOOD" '[127.0.0.11]' "$FROM" "$TO" "$SM_RCPT" \
        550 '' helo-literal-mismatch
}

case_sendmail_helo_claims_us() {
    both_mtas sm-helo-claims-us "$SM_GOOD" mx.dest.test "$FROM" "$TO" "$SM_RCPT" \
        550 '' helo-claims-us
}

case_sendmail_deny_sender() {
    both_mtas sm-deny-sender "$SM_GOOD" lo-good.example.test someone@bad.test "$TO" \
        "$SM_RCPT" 550 '' deny-sender
}

case_sendmail_sender_domain_missing() {
    both_mtas sm-sender-missing "$SM_GOOD" lo-good.example.test someone@no-such-sender.test \
        "$TO" "$SM_RCPT" 550 5.1.8 sender-domain-missing &&
        both_expect "$SM_RCPT" 550 5.1.8 'does not exist'
}

case_sendmail_sender_null_mx() {
    both_mtas sm-null-mx "$SM_GOOD" lo-good.example.test someone@nullmx.test "$TO" \
        "$SM_RCPT" 550 5.7.27 sender-null-mx
}

case_sendmail_spf_pass() {
    both_mtas sm-spf-pass "$SM_GOOD" lo-good.example.test someone@spf-pass.test "$TO" \
        "$SM_RCPT" 250
}

case_sendmail_spf_fail_exp() {
    both_mtas sm-spf-fail "$SM_GOOD" lo-good.example.test someone@spf-fail.test "$TO" \
        "$SM_RCPT" 550 5.7.23 \
        "127\.0\.0\.10 is not one of spf-fail\.test's designated mail servers"
}

case_sendmail_spf_fail_default_explanation() {
    both_mtas sm-spf-fail-plain "$SM_GOOD" lo-good.example.test someone@spf-fail-plain.test \
        "$TO" "$SM_RCPT" 550 5.7.23 'does not designate .*as a permitted sender'
}

case_sendmail_spf_permerror() {
    both_mtas sm-spf-permerror "$SM_GOOD" lo-good.example.test someone@spf-permerror.test \
        "$TO" "$SM_RCPT" 550 5.7.24 spf-permerror
}

case_sendmail_spf_temperror() {
    both_mtas sm-spf-temperror "$SM_GOOD" lo-good.example.test \
        someone@spf-include-timeout.test "$TO" "$SM_RCPT" 451 4.7.24 spf-temperror
}

# F=T: with the milter down Sendmail tempfails at MAIL, in words of its
# own (Postfix says 451 4.7.1, see case_postfix_milter_down_tempfails).
case_sendmail_milter_down_tempfails() {
    stop_milter
    sendmail_session sm-milter-down "$SM_GOOD" lo-good.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "MAIL FROM:" 451 4.3.2 'Please try again later'
}

# The milter configuration of these cases: the harness's, with only
# 127.0.0.1 trusted (the harness trusts 127.0.0.0/8) and libunbound's
# built-in answers for 127.in-addr.arpa lifted, so that the PTRs of
# zones/0.0.127.in-addr.arpa.zone reach it. Same socket as the Postfix
# cases: one milter serves both MTAs.
write_sendmail_milter_config() {
    local unbound=$WORK/unbound-sendmail.conf
    cp "$WORK/unbound.conf" "$unbound"
    sed -i '/^server:/a\    local-zone: "127.in-addr.arpa." nodefault' "$unbound"
    SENDMAIL_MILTER_CONF=$WORK/sendmail-milter.conf
    write_milter_config "$SENDMAIL_MILTER_CONF" "$MILTER_SOCKET" enforce "$DNS_PORT" "$unbound"
    sed -i 's|^trusted-networks = .*|trusted-networks = 127.0.0.1/32 ::1/128|' \
        "$SENDMAIL_MILTER_CONF"
}

run_sendmail_cases() {
    section_mine || return 0
    local cases=(clean-accept good-client rdns-missing rdns-unconfirmed dnsbl-listed
        postmaster-exempt helo-syntax helo-literal-matching helo-literal-mismatch helo-claims-us
        deny-sender sender-domain-missing sender-null-mx spf-pass spf-fail-exp
        spf-fail-default-explanation spf-permerror spf-temperror milter-down-tempfails)
    local name why wanted=""
    for name in "${cases[@]}"; do
        if [ -z "${CASE_FILTER:-}" ] || [[ sendmail-$name =~ $CASE_FILTER ]]; then wanted=yes; fi
    done
    [ -n "$wanted" ] || return 0
    why=$(mktemp)
    if ! sendmail_obtainable >"$why"; then
        echo "SKIP sendmail cases: no Sendmail binary ($(cat "$why"))"
        rm -f "$why"
        return 0
    fi
    rm -f "$why"
    write_sendmail_milter_config
    CASE_NOTES=$WORK/notes/sendmail-start
    : >"$CASE_NOTES"
    if ! start_sendmail; then
        echo "FAIL sendmail-start"
        cat "$CASE_NOTES"
        FAILED=$((FAILED + 1))
        return
    fi
    for name in "${cases[@]}"; do
        run_case "sendmail-$name" "case_sendmail_${name//-/_}"
    done
    stop_sendmail
}
