// Where the Redis store connects: `state.redis` parsed into its parts.
//
// Accepted forms (the scheme is matched without case):
//   redis://host[:port][/db]              port 1-65535 (default 6379), db >= 0 (default 0)
//   redis://[::1]:port/db                 an IPv6 address in brackets
//   redis://[user]:password@host...       AUTH (with the user for Redis 6 ACLs)
//   unix:/path[?db=N][&password=P]        a socket path of at most 107 bytes
// Percent escapes (%40 for '@') are decoded in the user and the password.
// The parser takes hostile text: it never throws, and a refusal says
// what is wrong in `error`, without quoting the password.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::state {

struct RedisUrl {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host;     // tcp: a name or an address, without brackets
    unsigned port = 6379; // tcp
    std::string path;     // unix_socket
    unsigned long db = 0; // SELECT on connect
    std::string user;     // AUTH user password, when both are set
    std::string password; // AUTH password, when set

    // The URL for logs, with the password shown as "***".
    std::string display() const;
};

std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string &error);

} // namespace portcullis::state
