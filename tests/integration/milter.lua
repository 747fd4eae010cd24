-- Milter protocol edge cases for portcullis, played by miltertest(8).
--
-- run.sh starts the milter (same DNS as the Postfix cases) and runs
--   miltertest -s milter.lua -D socket=unix:PATH -D pid=PID
-- Each case prints "PASS name" or "FAIL name" plus indented detail; the
-- script ends with "DONE". After every case the milter process must still
-- exist and answer a fresh connection. Garbage the milter cannot parse
-- must never crash it, must always be answered, and must not be rejected
-- unless a rule says so (the HELO rules may refuse a malformed HELO).
-- miltertest cannot send arguments over about 1 KB: milter_raw.py covers
-- the long ones and malformed packets.
--
-- Clients as in zones/: 192.0.2.10 good.example.test; 192.0.2.30 no PTR.

if socket == nil or pid == nil then
    error("usage: miltertest -s milter.lua -D socket=unix:PATH -D pid=PID")
end

mt.set_timeout(20)

local GOOD_IP, GOOD_NAME = "192.0.2.10", "good.example.test"
local NOPTR_IP = "192.0.2.30"

local reply_names = {
    [SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept",
    [SMFIR_REJECT] = "reject", [SMFIR_TEMPFAIL] = "tempfail",
    [SMFIR_REPLYCODE] = "replycode", [SMFIR_DISCARD] = "discard",
    [SMFIR_SKIP] = "skip",
}

local function reply_name(reply)
    return reply_names[reply] or ("0x" .. string.format("%02x", math.floor(reply or 0)))
end

-- Outcome classes. "passes" is what an acceptable client gets; "refused"
-- a rejection (miltertest does not show the text of a reply code).
local passes = { SMFIR_CONTINUE, SMFIR_ACCEPT }
-- A body chunk may also be answered "skip the rest" (no DKIM signature needs it).
local body_passes = { SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_SKIP }
local refused = { SMFIR_REJECT, SMFIR_REPLYCODE }
local any = { SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_REJECT, SMFIR_REPLYCODE,
              SMFIR_TEMPFAIL, SMFIR_DISCARD, SMFIR_SKIP }

-- step(conn, what, result, allowed): result is what an mt.* call returned
-- (nil on success); the milter's reply must be one of allowed (nil: a
-- step without a reply, such as abort).
local function step(conn, what, result, allowed)
    if result ~= nil then
        error(what .. ": " .. tostring(result), 2)
    end
    if allowed == nil then
        return nil
    end
    local reply = mt.getreply(conn)
    for _, wanted in ipairs(allowed) do
        if reply == wanted then
            return reply
        end
    end
    local names = {}
    for _, wanted in ipairs(allowed) do
        names[#names + 1] = reply_name(wanted)
    end
    error(what .. ": reply " .. reply_name(reply) .. ", wanted " ..
          table.concat(names, "|"), 2)
end

local function connect()
    local conn = mt.connect(socket, 20, 0.25)
    if conn == nil then
        error("cannot connect to " .. socket, 2)
    end
    return conn
end

-- A session up to HELO from client ip/name.
local function session(ip, name, helo)
    local conn = connect()
    step(conn, "connect " .. ip, mt.conninfo(conn, name, ip), passes)
    if helo ~= nil then
        step(conn, "HELO " .. helo:sub(1, 40), mt.helo(conn, helo), passes)
    end
    return conn
end

local function alive()
    local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
    return ok == true or ok == 0
end

local function answering()
    local conn = connect()
    step(conn, "liveness connect", mt.conninfo(conn, "localhost", "127.0.0.1"), passes)
    mt.disconnect(conn)
end

local passed, failed = 0, 0

local function case(name, body)
    local ok, problem = pcall(body)
    if ok and not alive() then
        ok, problem = false, "milter process " .. pid .. " is gone"
    end
    if ok then
        local answered, why = pcall(answering)
        if not answered then
            ok, problem = false, "milter no longer answers: " .. tostring(why)
        end
    end
    if ok then
        passed = passed + 1
        mt.echo("PASS " .. name)
    else
        failed = failed + 1
        mt.echo("FAIL " .. name)
        mt.echo("  " .. tostring(problem))
    end
end

-- A close whose connection may already be gone.
local function close(conn, polite)
    pcall(mt.disconnect, conn, polite)
end

---------------------------------------------------------------------------

case("rset-mid-transaction", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    step(conn, "RSET", mt.abort(conn))
    step(conn, "MAIL after RSET", mt.mailfrom(conn, "<b@example.test>"), passes)
    step(conn, "RCPT after RSET", mt.rcptto(conn, "<user2@dest.test>"), passes)
    close(conn, true)
end)

-- The client's verdict outlives RSET; postmaster@ stays exempt.
case("rset-keeps-client-verdict", function()
    local conn = session(NOPTR_IP, "[" .. NOPTR_IP .. "]", "host30.example.test")
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT user (no PTR)", mt.rcptto(conn, "<user@dest.test>"), refused)
    step(conn, "RSET", mt.abort(conn))
    step(conn, "MAIL after RSET", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT postmaster", mt.rcptto(conn, "<postmaster@dest.test>"), passes)
    step(conn, "RCPT user after RSET", mt.rcptto(conn, "<user@dest.test>"), refused)
    close(conn, true)
end)

case("close-without-connect", function()
    local conn = connect()
    mt.disconnect(conn, false)
    conn = connect()
    close(conn, true)
    conn = connect()
    if mt.negotiate(conn, nil, nil, nil) ~= nil then
        error("negotiate failed")
    end
    mt.disconnect(conn, false)
end)

case("close-mid-transaction", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    mt.disconnect(conn, false)
end)

case("helo-repeated-same-name", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "second HELO", mt.helo(conn, GOOD_NAME), passes)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

case("helo-repeated-other-name", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "second HELO", mt.helo(conn, "other.example.test"), passes)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), refused)
    close(conn, true)
end)

-- Postfix sends an abort before a repeated EHLO; the change still counts.
case("helo-repeated-other-name-after-abort", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "abort", mt.abort(conn))
    step(conn, "second HELO", mt.helo(conn, "other.example.test"), passes)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), refused)
    close(conn, true)
end)

case("many-recipients", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    for i = 1, 500 do
        step(conn, "RCPT #" .. i, mt.rcptto(conn, "<user" .. i .. "@dest.test>"), passes)
    end
    if not mt.test_option(conn, SMFIP_NODATA) then
        step(conn, "DATA", mt.data(conn), passes)
    end
    if not mt.test_option(conn, SMFIP_NOHDRS) then
        step(conn, "From", mt.header(conn, "From", "a@example.test"), passes)
        step(conn, "header", mt.header(conn, "Subject", "500 recipients"), passes)
    end
    if not mt.test_option(conn, SMFIP_NOEOH) then
        step(conn, "EOH", mt.eoh(conn), passes)
    end
    if not mt.test_option(conn, SMFIP_NOBODY) then
        step(conn, "body", mt.bodystring(conn, "hello\r\n"), body_passes)
    end
    step(conn, "EOM", mt.eom(conn), passes)
    close(conn, true)
end)

-- miltertest itself aborts ("buffer overflow detected") on arguments over
-- about 1 KB; milter_raw.py sends the 64 KB and 100 KB ones. It also
-- aborts ("stack smashing detected") reading a reply code whose text is
-- long: the helo-syntax refusal at RCPT quotes a HELO of 700 bytes or
-- more. So this case stops after MAIL; milter_raw.py's helo-64k and
-- helo-100k take the RCPT refusal of a long HELO.
case("helo-1000", function()
    local conn = session(GOOD_IP, GOOD_NAME, nil)
    step(conn, "1000 byte HELO", mt.helo(conn, string.rep("a", 987) .. ".example.test"), passes)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    close(conn, true)
end)

case("mail-from-1000", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    local sender = "<" .. string.rep("x", 985) .. "@example.test>"
    step(conn, "1000 byte MAIL", mt.mailfrom(conn, sender), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

-- Control bytes, a NUL (ends the string on the wire), DEL, high bytes in
-- the envelope: answered and not refused (no rule is about them).
case("envelope-control-bytes", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a\1b\2c\27d\127e\255@example.test>"), passes)
    step(conn, "RCPT with NUL", mt.rcptto(conn, "<user\0hidden@dest.test>"), passes)
    step(conn, "RCPT with CR LF", mt.rcptto(conn, "<user\r\nX: y@dest.test>"), passes)
    close(conn, true)
end)

case("envelope-non-ascii", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<j\195\182rg@ex\195\164mple.test>", "SMTPUTF8"),
         passes)
    step(conn, "RCPT", mt.rcptto(conn, "<\208\191\208\190\209\135\209\130\208\176@dest.test>"),
         passes)
    close(conn, true)
end)

-- A HELO of garbage may be refused by a HELO rule, but must be answered.
case("helo-control-and-non-ascii", function()
    for _, helo in ipairs({ "bad\1\2host\127.example.test", "h\195\182st.example.test",
                            "\255\254\253", "%s%n%x.example.test", "[999.1.2.3]",
                            "[IPv6:zz::1]", "[", "." }) do
        local conn = session(GOOD_IP, GOOD_NAME, nil)
        step(conn, "HELO " .. helo, mt.helo(conn, helo), passes)
        step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
        step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), any)
        close(conn, true)
    end
end)

case("helo-empty", function()
    local conn = session(GOOD_IP, GOOD_NAME, nil)
    step(conn, "empty HELO", mt.helo(conn, ""), passes)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), any)
    close(conn, true)
end)

case("envelope-malformed", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL without brackets", mt.mailfrom(conn, "a@example.test"), passes)
    step(conn, "RCPT without brackets", mt.rcptto(conn, "user@dest.test"), passes)
    step(conn, "RSET", mt.abort(conn))
    step(conn, "MAIL <>", mt.mailfrom(conn, "<>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    step(conn, "RSET", mt.abort(conn))
    step(conn, "MAIL unterminated", mt.mailfrom(conn, "<a@"), passes)
    step(conn, "RCPT empty", mt.rcptto(conn, ""), passes)
    step(conn, "RCPT <>", mt.rcptto(conn, "<>"), passes)
    step(conn, "RSET", mt.abort(conn))
    step(conn, "MAIL with parameters",
         mt.mailfrom(conn, "<a@example.test>", "SIZE=1000", "BODY=8BITMIME", "=", ""), passes)
    step(conn, "RCPT with parameters",
         mt.rcptto(conn, "<user@dest.test>", "NOTIFY=NEVER", "ORCPT=rfc822;x"), passes)
    close(conn, true)
end)

case("mail-without-helo", function()
    local conn = session(GOOD_IP, GOOD_NAME, nil)
    -- miltertest fills in a HELO of its own; the transaction must work.
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), any)
    close(conn, true)
end)

case("unknown-address-family", function()
    local conn = connect()
    step(conn, "connect unspec", mt.conninfo(conn, "localhost", "unspec"), any)
    step(conn, "HELO", mt.helo(conn, GOOD_NAME), any)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), any)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), any)
    close(conn, true)
end)

case("unknown-command", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    if not mt.test_option(conn, SMFIP_NOUNKNOWN) then
        step(conn, "unknown command", mt.unknown(conn, "FROB \1\255 " .. string.rep("z", 1000)),
             any)
    end
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

-- {auth_authen} at MAIL: an authenticated client passes without a PTR.
case("authenticated-macro", function()
    local conn = session(NOPTR_IP, "[" .. NOPTR_IP .. "]", "host30.example.test")
    mt.macro(conn, SMFIC_MAIL, "{auth_type}", "PLAIN", "{auth_authen}", "alice")
    step(conn, "MAIL", mt.mailfrom(conn, "<alice@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

-- Macros full of garbage, and a macro packet for a stage never reached.
case("garbage-macros", function()
    local conn = connect()
    mt.macro(conn, SMFIC_CONNECT, "j", string.rep("\1", 300), "{daemon_addr}", "not-an-ip",
             "_", "", "v", "\255\254")
    step(conn, "connect", mt.conninfo(conn, GOOD_NAME, GOOD_IP), passes)
    step(conn, "HELO", mt.helo(conn, GOOD_NAME), passes)
    mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "", "i", string.rep("Q", 300))
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error", "{rcpt_addr}", "\1")
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), any)
    close(conn, true)
end)

-- A header field with a control byte and an 8-bit byte in its name and a
-- NUL as its value: taken without harm, and the message refused for it
-- (header-bad-bytes): at the end of the header, or, when the end of the
-- header goes unanswered (SMFIP_NR_EOH, on a Unix socket), at the end of
-- the message; the session goes on.
case("hostile-header", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    if not mt.test_option(conn, SMFIP_NODATA) then
        step(conn, "DATA", mt.data(conn), passes)
    end
    if mt.test_option(conn, SMFIP_NOHDRS) or mt.test_option(conn, SMFIP_NOEOH) then
        error("the milter did not take the header")
    end
    step(conn, "From", mt.header(conn, "From", "a@example.test"), passes)
    step(conn, "odd header", mt.header(conn, "\1\255", "\0"), passes)
    -- Answered at the end of the header, or (that stage unanswered, as
    -- on a Unix socket) at the end of the message.
    local at_eoh = step(conn, "EOH", mt.eoh(conn),
                        { SMFIR_CONTINUE, SMFIR_REJECT, SMFIR_REPLYCODE })
    if at_eoh == SMFIR_CONTINUE then
        if not mt.test_option(conn, SMFIP_NOBODY) then
            step(conn, "body", mt.bodystring(conn, "hello\r\n"), passes)
        end
        step(conn, "EOM", mt.eom(conn), refused)
    end
    step(conn, "MAIL of a second message", mt.mailfrom(conn, "<b@example.test>"), passes)
    close(conn, true)
end)

case("full-message", function()
    local conn = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    if not mt.test_option(conn, SMFIP_NODATA) then
        step(conn, "DATA", mt.data(conn), passes)
    end
    if not mt.test_option(conn, SMFIP_NOHDRS) then
        step(conn, "From", mt.header(conn, "From", "a@example.test"), passes)
        step(conn, "long header", mt.header(conn, "X-Long", string.rep("h", 900)), passes)
    end
    if not mt.test_option(conn, SMFIP_NOEOH) then
        step(conn, "EOH", mt.eoh(conn), passes)
    end
    if not mt.test_option(conn, SMFIP_NOBODY) then
        step(conn, "body", mt.bodystring(conn, string.rep("body line\r\n", 3000)), body_passes)
    end
    step(conn, "EOM", mt.eom(conn), passes)
    step(conn, "MAIL of a second message", mt.mailfrom(conn, "<b@example.test>"), passes)
    step(conn, "RCPT of a second message", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

case("ipv6-client", function()
    local conn = session("2001:db8::10", "good6.example.test", "good6.example.test")
    step(conn, "MAIL", mt.mailfrom(conn, "<a@example.test>"), passes)
    step(conn, "RCPT", mt.rcptto(conn, "<user@dest.test>"), passes)
    close(conn, true)
end)

-- 40 sessions open at once, interleaved, then closed in another order.
case("concurrent-sessions", function()
    local conns = {}
    for i = 1, 40 do
        conns[i] = session(GOOD_IP, GOOD_NAME, GOOD_NAME)
    end
    for i = 1, 40 do
        step(conns[i], "MAIL #" .. i, mt.mailfrom(conns[i], "<a" .. i .. "@example.test>"), passes)
    end
    for i = 40, 1, -1 do
        step(conns[i], "RCPT #" .. i, mt.rcptto(conns[i], "<user@dest.test>"), passes)
    end
    for i = 1, 40, 2 do
        close(conns[i], false)
    end
    for i = 2, 40, 2 do
        close(conns[i], true)
    end
end)

mt.echo("DONE " .. passed .. " passed, " .. failed .. " failed")
