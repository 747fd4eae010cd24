# The message stage through Postfix: messages signed by python3-dkim
# (dkim/sign.py, keys of signer.test in zones/test.zone) are delivered to
# the harness's mailbox with portcullis' Authentication-Results and
# Received-SPF fields; forged Authentication-Results fields with our
# authserv-id (mx.dest.test, Postfix's myhostname, the j macro) are gone
# and another authserv-id's stays; header rules refuse at the end of DATA
# unless every recipient is exempt; from-spoofed guards own-domains; with
# every message check off, nothing of the message is touched.
# Sourced by run.sh after lib.sh and spf_cases.sh (mailbox_headers).

DKIM_DIR=$HERE/dkim

# message_file NAME SUBJECT [EXTRA_HEADER...]: a plain message in
# $WORK/messages/NAME (LF line ends; swaks sends CR LF), From a@signer.test.
message_file() {
    local name=$1 subject=$2 header
    shift 2
    mkdir -p "$WORK/messages"
    {
        for header in "$@"; do printf '%s\n' "$header"; done
        printf 'From: Alice <a@signer.test>\n'
        printf 'To: user@dest.test\n'
        printf 'Subject: %s\n' "$subject"
        printf 'Date: %s\n' "$(LC_ALL=C date -R)"
        printf 'Message-ID: <%s.%s@signer.test>\n' "$name" "$$"
        printf '\n'
        printf 'A message of the portcullis integration tests.\n'
        printf 'It has a few lines of body text.\n'
    } >"$WORK/messages/$name"
}

# signed NAME SELECTOR KEY ALGORITHM [CANON]: signs $WORK/messages/NAME in place.
signed() {
    local file=$WORK/messages/$1
    "$PYTHON" "$DKIM_DIR/sign.py" "$2" signer.test "$DKIM_DIR/$3" "$4" "${5:-relaxed}" \
        <"$file" >"$file.signed" && mv "$file.signed" "$file"
}

# send_message NAME CLIENT PTR FROM TO: the whole message through Postfix.
send_message() {
    SMTP_QUIT_AFTER='' smtp "msg-$1" "$2" "$3" "$3" "$4" "$5" --data "$WORK/messages/$1"
}

# delivered_fields SUBJECT: the header fields of the delivered message,
# unfolded, one per line; waits up to 10 s for it.
delivered_fields() {
    local headers _
    for _ in $(seq 1 100); do
        headers=$(mailbox_headers "$1")
        [ -n "$headers" ] && break
        sleep 0.1
    done
    printf '%s\n' "$headers" | awk '
        /^[ \t]/ { sub(/^[ \t]+/, " "); line = line $0; next }
        { if (line != "") print line; line = $0 }
        END { if (line != "") print line }'
}

# expect_field FIELDS REGEX: one of the unfolded FIELDS must match.
expect_field() {
    if grep -a -q -E -- "$2" <<<"$1"; then return 0; fi
    note "    no delivered header field matches /$2/; the fields:"
    printf '%s\n' "$1" | cut -c1-300 | sed 's/^/      /' >>"$CASE_NOTES"
    note "    mail log:"
    note_file "$WORK/postfix/maillog"
    return 1
}

# ours FIELDS: how many Authentication-Results fields with authserv-id mx.dest.test.
count_ours() {
    grep -a -c -i -E '^Authentication-Results: *mx\.dest\.test *;' <<<"$1"
}

# header.b is the first 8 characters of b=; one with a "/" (about one
# signature in 8) is written quoted, as RFC 8601's value grammar (an RFC
# 2045 token or a quoted-string) asks.
case_message_dkim_rsa_pass_with_results() {
    use_milter "$ENFORCE_CONF" || return 1
    local subject="portcullis message rsa $$" fields
    message_file rsa "$subject"
    signed rsa rsa rsa2048.key rsa
    send_message rsa 192.0.2.10 good.example.test sender@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    fields=$(delivered_fields "$subject")
    expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*iprev=pass \(good\.example\.test\) policy\.iprev=192\.0\.2\.10' &&
        expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*spf=pass smtp\.mailfrom=sender@signer\.test' &&
        expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*spf=[a-z]+ smtp\.helo=good\.example\.test' &&
        expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*dkim=pass header\.d=signer\.test header\.i=@signer\.test header\.s=rsa header\.b=([A-Za-z0-9+]{8}|"[A-Za-z0-9+/]{8}")( |;|$)' &&
        expect_field "$fields" '^Received-SPF: pass' && milter_alive
}

case_message_dkim_ed25519_simple_pass() {
    use_milter "$ENFORCE_CONF" || return 1
    local subject="portcullis message ed25519 $$" fields
    message_file ed "$subject"
    signed ed ed ed25519.key ed25519 simple
    send_message ed 192.0.2.10 good.example.test sender@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    fields=$(delivered_fields "$subject")
    expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*dkim=pass header\.d=signer\.test header\.i=@signer\.test header\.s=ed ' &&
        milter_alive
}

# The body changed after signing: dkim=fail in the field, logged (dkim-fail = log).
case_message_dkim_body_changed_fails() {
    use_milter "$ENFORCE_CONF" || return 1
    local subject="portcullis message changed $$" fields
    message_file changed "$subject"
    signed changed rsa rsa2048.key rsa
    printf 'A footer a list added.\n' >>"$WORK/messages/changed"
    send_message changed 192.0.2.10 good.example.test sender@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    fields=$(delivered_fields "$subject")
    expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*dkim=fail ' &&
        expect_log 'stage=message action=continue dkim=fail:signer\.test log=dkim-fail' &&
        milter_alive
}

# Three forged fields with our authserv-id (one of 8 KiB, folded) are
# deleted; one of another authserv-id stays; ours is added once.
case_message_forged_results_deleted() {
    use_milter "$ENFORCE_CONF" || return 1
    local subject="portcullis message forged $$" fields long i
    long="mx.dest.test; dkim=pass header.d=forged.example"
    for i in $(seq 1 170); do long="$long\n\tx-padding-$i=abcdefghijklmnopqrstuvwxyz0123456789"; done
    message_file forged "$subject" \
        'Authentication-Results: mx.dest.test; spf=pass smtp.mailfrom=ceo@dest.test' \
        "Authentication-Results: $(printf '%b' "$long")" \
        'Authentication-Results: other.example; dkim=pass header.d=other.example' \
        'Authentication-Results: (a comment) MX.Dest.Test; iprev=pass'
    if [ "$(grep -c 'x-padding' "$WORK/messages/forged")" -lt 170 ] ||
        [ "$(wc -c <"$WORK/messages/forged")" -lt 8192 ]; then
        note "    the forged 8 KiB field was not written"
        return 1
    fi
    send_message forged 192.0.2.10 good.example.test sender@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    fields=$(delivered_fields "$subject")
    expect_field "$fields" '^Authentication-Results: other\.example; dkim=pass header\.d=other\.example' ||
        return 1
    if [ "$(count_ours "$fields")" -ne 1 ] || grep -q -E 'x-padding|forged\.example|ceo@dest' <<<"$fields" ||
        grep -q -i '(a comment) MX.Dest.Test' <<<"$fields"; then
        note "    a forged field with our authserv-id survived; the fields:"
        printf '%s\n' "$fields" | cut -c1-200 | sed 's/^/      /' >>"$CASE_NOTES"
        return 1
    fi
    expect_field "$fields" '^Authentication-Results: mx\.dest\.test;.*iprev=pass' && milter_alive
}

# Two From fields: refused at the end of DATA for the whole message.
case_message_repeated_from_rejected() {
    use_milter "$ENFORCE_CONF" || return 1
    message_file twofrom "portcullis message two from $$" 'From: mallory@evil.example'
    send_message twofrom 192.0.2.10 good.example.test "$FROM" "$TO"
    expect_reply "$LAST_TRANSCRIPT" "$RCPT" 250 &&
        expect_reply "$LAST_TRANSCRIPT" "." 550 5.6.0 'header-repeated|2 From: fields' &&
        expect_log 'stage=header rule=header-repeated action=reject' && milter_alive
}

# The same to postmaster@ only: accepted, the refusal logged.
case_message_repeated_from_to_postmaster_accepted() {
    use_milter "$ENFORCE_CONF" || return 1
    message_file twofrom-pm "portcullis message two from pm $$" 'From: mallory@evil.example'
    send_message twofrom-pm 192.0.2.10 good.example.test "$FROM" postmaster@dest.test
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' &&
        expect_log 'stage=header rule=header-repeated action=reject code="550 5.6.0" exempt=yes' &&
        milter_alive
}

# own-domains = signer.test: From: a@signer.test unsigned, with an SPF
# pass of a domain that is not aligned, is refused; with an aligned SPF
# pass or a DKIM pass it is accepted.
case_message_from_spoofed() {
    local conf=$WORK/own-domains.conf
    write_milter_config "$conf" "$MILTER_SOCKET" enforce
    sed -i '2i own-domains = signer.test' "$conf"
    use_milter "$conf" || return 1
    message_file spoofed "portcullis message spoofed $$"
    send_message spoofed 192.0.2.10 good.example.test sender@example.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 550 5.7.1 'claims to come from signer\.test' || return 1
    message_file aligned "portcullis message aligned $$"
    send_message aligned 192.0.2.10 good.example.test bounce@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 || return 1
    message_file signed-own "portcullis message signed own $$"
    signed signed-own rsa rsa2048.key rsa
    send_message signed-own 192.0.2.10 good.example.test sender@example.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 && milter_alive
}

# Every message check off: the message passes untouched, forged fields included.
case_message_checks_off_untouched() {
    local conf=$WORK/message-off.conf rule subject="portcullis message off $$" fields
    write_milter_config "$conf" "$MILTER_SOCKET" enforce
    sed -i '2i authentication-results = no\ndkim.verify = no' "$conf"
    for rule in header-too-large header-bad-bytes header-line-too-long header-8bit \
        header-from-missing header-date-missing header-repeated header-message-id-syntax \
        header-date-syntax header-date-past header-date-future dkim-fail dkim-temperror \
        dkim-permerror from-spoofed; do
        printf '%s = ignore\n' "$rule" >>"$conf"
    done
    use_milter "$conf" || return 1
    message_file off "$subject" 'Authentication-Results: mx.dest.test; dkim=pass header.d=x.example' \
        'From: second@evil.example'
    send_message off 192.0.2.10 good.example.test sender@signer.test "$TO"
    expect_reply "$LAST_TRANSCRIPT" "." 250 '' 'queued as' || return 1
    fields=$(delivered_fields "$subject")
    expect_field "$fields" '^Authentication-Results: mx\.dest\.test; dkim=pass header\.d=x\.example' &&
        expect_field "$fields" '^Received-SPF: pass' && milter_alive
}

run_message_cases() {
    run_case message-dkim-rsa-pass-with-results case_message_dkim_rsa_pass_with_results
    run_case message-dkim-ed25519-simple-pass case_message_dkim_ed25519_simple_pass
    run_case message-dkim-body-changed-fails case_message_dkim_body_changed_fails
    run_case message-forged-results-deleted case_message_forged_results_deleted
    run_case message-repeated-from-rejected case_message_repeated_from_rejected
    run_case message-repeated-from-to-postmaster-accepted \
        case_message_repeated_from_to_postmaster_accepted
    run_case message-from-spoofed case_message_from_spoofed
    run_case message-checks-off-untouched case_message_checks_off_untouched
}
