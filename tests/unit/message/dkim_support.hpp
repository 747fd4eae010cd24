// For the DKIM tests: keys made and messages signed at test time by
// python3-dkim (tests/unit/message/dkim_sign.py, run with Debian's
// /usr/bin/python3), a signed message split as the MTA hands it to a
// milter, and a message fed through a DkimVerification.
#pragma once

#include "message/dkim_verifier.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::testing {

inline std::string run_command(const std::string &command) {
    std::string output;
    FILE *pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    std::size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    INFO(command);
    REQUIRE(status == 0);
    return output;
}

inline std::string read_file(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Keys made once per test run: "rsa" (2048 bits), "rsa1024", "ed25519".
class DkimKeys {
  public:
    static const DkimKeys &get() {
        static const DkimKeys keys;
        return keys;
    }
    ~DkimKeys() { std::filesystem::remove_all(directory_); }

    // The key's TXT record, "v=DKIM1; k=...; p=...".
    std::string record(const std::string &key) const {
        return read_file(directory_ / (key + ".txt"));
    }

    struct Signing {
        std::string key = "rsa";
        std::string algorithm = "rsa-sha256";
        std::string canon = "relaxed/relaxed";
        std::string selector = "sel";
        std::string domain = "example.org";
        bool length = false;
        std::string identity;
    };
    // The message (CR LF lines) with a DKIM-Signature field put in front.
    std::string sign(const std::string &message, const Signing &how) const {
        const auto input = directory_ / ("message-" + std::to_string(++counter_));
        std::ofstream(input, std::ios::binary) << message;
        std::string command =
            "/usr/bin/python3 " SOURCE_ROOT "/tests/unit/message/dkim_sign.py sign " +
            directory_.string() + " " + how.key + " " + how.algorithm + " " + how.canon + " " +
            how.selector + " " + how.domain + " " + (how.length ? "l" : "-");
        if (!how.identity.empty())
            command += " '" + how.identity + "'";
        command += " < " + input.string();
        return run_command(command);
    }

  private:
    DkimKeys() {
        std::string pattern = (std::filesystem::temp_directory_path() / "portcullis-dkim-XXXXXX");
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        directory_ = pattern;
        run_command("/usr/bin/python3 " SOURCE_ROOT "/tests/unit/message/dkim_sign.py keys " +
                    directory_.string());
    }
    std::filesystem::path directory_;
    mutable int counter_ = 0;
};

// A message as libmilter hands it: fields (name, value with the space
// after the colon, folding as "\n" + WSP) and the body (CR LF lines).
struct MilterMessage {
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
};

inline MilterMessage split_message(const std::string &message) {
    MilterMessage out;
    const auto end = message.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    out.body = message.substr(end + 4);
    std::string head = message.substr(0, end + 2);
    std::size_t at = 0;
    while (at < head.size()) {
        std::size_t line_end = head.find("\r\n", at);
        std::string line = head.substr(at, line_end - at);
        at = line_end + 2;
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            REQUIRE(!out.fields.empty());
            out.fields.back().second += "\n" + line;
            continue;
        }
        const auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        // As the milter hands it with SMFIP_HDR_LEADSPC: the white space
        // after the colon kept.
        std::string value = line.substr(colon + 1);
        out.fields.emplace_back(line.substr(0, colon), value);
    }
    return out;
}

inline const char *const plain_message = "From: Alice <alice@example.org>\r\n"
                                         "To: bob@example.net\r\n"
                                         "Subject: Greetings\r\n"
                                         "Date: Mon, 6 Jan 2025 10:00:00 +0000\r\n"
                                         "Message-ID: <1@example.org>\r\n"
                                         "\r\n"
                                         "Hello Bob.\r\n"
                                         "\r\n"
                                         "A second paragraph.  \r\n";

// Feeds a whole message; `after_headers` runs between the fields and
// end_of_headers().
inline std::vector<message::DkimSignature>
verify_message(const message::DkimLibrary &library, Lookups &lookups, const MilterMessage &message,
               message::DkimSettings settings = {},
               std::chrono::milliseconds wait = std::chrono::seconds(5),
               const std::function<void()> &after_headers = {}) {
    message::DkimVerification verification(library, lookups, settings);
    for (const auto &[name, value] : message.fields)
        verification.header(name, value);
    if (after_headers)
        after_headers();
    verification.end_of_headers();
    verification.body(message.body);
    return verification.end_of_message(Lookups::Clock::now() + wait);
}

} // namespace portcullis::testing
