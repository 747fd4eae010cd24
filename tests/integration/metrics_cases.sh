# shellcheck shell=bash
# The metrics endpoint (metrics.listen): sessions through the real daemon,
# a scrape of /metrics compared with the run's decision lines, a reload
# that the counts survive, and the answers to other paths and methods.
# Sourced by run.sh after lib.sh and daemon_cases.sh (daemon_config,
# daemon_start, daemon_wait_socket); run_metrics_cases runs them.

# metrics_port: a free loopback TCP port outside the harness's eight.
metrics_port() {
    local port _
    for _ in $(seq 1 50); do
        port=$((14000 + RANDOM % 2000))
        if ports_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

metrics_probe() { "$PYTHON" "$HERE/metrics_probe.py" "$@"; }

# http_status METHOD URL: the status code curl gets.
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "$2"; }

case_metrics_match_log() {
    local port config socket=$WORK/milter/metrics.sock url run ran=0 reloads after ok=0
    port=$(metrics_port) || { note "    no free port"; return 1; }
    url=http://127.0.0.1:$port/metrics
    # limits.errors: the abuse counters count each refusal in the store
    # (far below the limit), so that the store's calls are counted too.
    config=$(daemon_config metrics "metrics.listen = 127.0.0.1:$port" "limits.errors = 1000")
    daemon_start metrics "$config"
    if ! daemon_wait_socket "$socket"; then
        note "    the milter did not start; its log:"
        note_file "$DAEMON_LOG"
        daemon_stop_all
        return 1
    fi
    wait_until 5 curl -s -o /dev/null --max-time 2 "$url" ||
        { note "    nothing answers on $url"; note_file "$DAEMON_LOG"; daemon_stop_all; return 1; }
    grep -q "serving metrics on http://127.0.0.1:$port/metrics" "$DAEMON_LOG" ||
        { note "    no start line for the metrics"; ok=1; }

    run=$(metrics_probe sessions "unix:$socket" 3) || { note "    sessions: $run"; ok=1; }
    ran=$((ran + run))
    sleep 1 # the log writer's queue
    if ! out=$(metrics_probe compare "$url" "$DAEMON_LOG" "$ran" 2>&1); then
        note "    before the reload:"
        printf '%s\n' "$out" | sed 's/^/      /' >>"$CASE_NOTES"
        ok=1
    fi

    # A reload keeps the counts, is counted, and (metrics.listen changed)
    # says that the endpoint stays where it is.
    sed -i "s/^metrics.listen = .*/metrics.listen = 127.0.0.1:$((port + 1))/" "$config"
    kill -HUP "$DAEMON_PID"
    wait_until 10 grep -qs "configuration reloaded" "$DAEMON_LOG" ||
        { note "    no reload"; note_file "$DAEMON_LOG"; ok=1; }
    grep -q "metrics.listen changed: it takes effect at the next restart" "$DAEMON_LOG" ||
        { note "    no line about metrics.listen changed"; ok=1; }
    reloads=$(metrics_probe scrape "$url" portcullis_reloads_total)
    [ "$reloads" = 1 ] || { note "    portcullis_reloads_total $reloads after one reload"; ok=1; }
    run=$(metrics_probe sessions "unix:$socket" 2) || { note "    sessions: $run"; ok=1; }
    ran=$((ran + run))
    sleep 1
    if ! out=$(metrics_probe compare "$url" "$DAEMON_LOG" "$ran" 2>&1); then
        note "    after the reload:"
        printf '%s\n' "$out" | sed 's/^/      /' >>"$CASE_NOTES"
        ok=1
    fi

    # DNS, the answer cache, SPF and the state store were counted.
    local name
    for name in portcullis_dns_lookups_total portcullis_dns_lookup_duration_seconds_count \
        portcullis_answer_cache_hits_total portcullis_spf_results_total \
        portcullis_state_store_calls_total; do
        after=$(metrics_probe scrape "$url" "$name")
        [ "${after:-0}" -gt 0 ] || { note "    $name is $after"; ok=1; }
    done

    # Other paths and methods.
    [ "$(http_status GET "http://127.0.0.1:$port/")" = 404 ] || { note "    GET / not 404"; ok=1; }
    [ "$(http_status GET "http://127.0.0.1:$port/metrics/x")" = 404 ] ||
        { note "    GET /metrics/x not 404"; ok=1; }
    [ "$(http_status POST "$url")" = 405 ] || { note "    POST /metrics not 405"; ok=1; }
    [ "$(http_status DELETE "$url")" = 405 ] || { note "    DELETE /metrics not 405"; ok=1; }
    # Only the configured address is bound.
    if command -v ss >/dev/null && ss -Hltn "sport = :$port" | awk '{ print $4 }' | grep -v -x "127.0.0.1:$port" | grep -q .; then
        note "    bound beyond 127.0.0.1:$port:"
        ss -Hltn "sport = :$port" >>"$CASE_NOTES"
        ok=1
    fi
    [ $ok -eq 0 ] || note_file "$DAEMON_LOG" 'metrics|error'
    daemon_stop_all
    return $ok
}

# A bad metrics.listen is refused by -n and by a start, naming the option.
case_metrics_bad_address_refused() {
    local config out ok=0 value
    for value in "localhost:9781" "127.0.0.1" "::1:9781" "127.0.0.1:70000"; do
        config=$(daemon_config metrics-bad "metrics.listen = $value")
        if out=$("$MILTER_BIN" -n -c "$config" 2>&1); then
            note "    -n accepted metrics.listen = $value"
            ok=1
        elif ! grep -q "metrics.listen" <<<"$out"; then
            note "    -n on metrics.listen = $value: $out"
            ok=1
        fi
    done
    return $ok
}

run_metrics_cases() {
    run_case metrics-match-log case_metrics_match_log
    run_case metrics-bad-address-refused case_metrics_bad_address_refused
}
