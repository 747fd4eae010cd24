// Parsing of `state.redis`; the forms are listed in redis_url.hpp.
#include "state/redis_url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <charconv>

namespace portcullis::state {

namespace {

constexpr std::size_t max_url_bytes = 4096;
constexpr std::size_t max_host_bytes = 253;
constexpr std::size_t max_socket_path_bytes = 107; // sun_path holds 108 with the NUL
constexpr unsigned long max_db = 2147483647;       // SELECT takes a C int

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size())
        return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i])
            return false;
    return true;
}

// Digits only (no sign, no space), within [low, high].
std::optional<unsigned long> parse_number(std::string_view text, unsigned long low,
                                          unsigned long high) {
    if (text.empty() || text.size() > 10)
        return std::nullopt;
    for (char c : text)
        if (c < '0' || c > '9')
            return std::nullopt;
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high)
        return std::nullopt;
    return value;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size())
            return std::nullopt;
        unsigned value = 0;
        auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
        if (ec != std::errc() || end != text.data() + i + 3)
            return std::nullopt;
        out += static_cast<char>(value);
        i += 2;
    }
    return out;
}

// For display: the user as it could be written back into a URL.
std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

bool valid_host_name(std::string_view host) {
    if (host.empty() || host.size() > max_host_bytes)
        return false;
    for (unsigned char c : host)
        if (!std::isalnum(c) && c != '-' && c != '.' && c != '_')
            return false;
    return true;
}

bool parse_db(std::string_view text, RedisUrl &url, std::string &error) {
    auto db = parse_number(text, 0, max_db);
    if (!db) {
        error = "the database must be a number from 0 to " + std::to_string(max_db);
        return false;
    }
    url.db = *db;
    return true;
}

// "[user]:password", percent-decoded.
bool parse_credentials(std::string_view text, RedisUrl &url, std::string &error) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        error = "credentials must be written as [user]:password@";
        return false;
    }
    auto user = percent_decode(text.substr(0, colon));
    auto password = percent_decode(text.substr(colon + 1));
    if (!user || !password) {
        error = "a malformed percent escape in the credentials";
        return false;
    }
    if (password->empty()) {
        error = "an empty password";
        return false;
    }
    url.user = std::move(*user);
    url.password = std::move(*password);
    return true;
}

bool parse_host_port(std::string_view text, RedisUrl &url, std::string &error) {
    std::string_view host = text;
    std::string_view port;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            error = "an IPv6 address without its closing ]";
            return false;
        }
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            error = "unexpected text after the IPv6 address";
            return false;
        }
        has_port = !rest.empty();
        if (has_port)
            port = rest.substr(1);
        in6_addr address{};
        if (std::string copy(host); ::inet_pton(AF_INET6, copy.c_str(), &address) != 1) {
            error = "not an IPv6 address between the brackets";
            return false;
        }
    } else {
        auto colon = text.find(':');
        if (colon != std::string_view::npos) {
            if (text.find(':', colon + 1) != std::string_view::npos) {
                error = "an IPv6 address must be written in brackets, [::1]";
                return false;
            }
            host = text.substr(0, colon);
            port = text.substr(colon + 1);
            has_port = true;
        }
        if (!valid_host_name(host)) {
            error = host.empty() ? "no host"
                                 : "not a host name (letters, digits, '-', '.' and '_', at "
                                   "most 253 bytes)";
            return false;
        }
    }
    url.host = std::string(host);
    if (has_port) {
        auto number = parse_number(port, 1, 65535);
        if (!number) {
            error = "the port must be a number from 1 to 65535";
            return false;
        }
        url.port = static_cast<unsigned>(*number);
    }
    return true;
}

std::optional<RedisUrl> parse_tcp(std::string_view rest, std::string &error) {
    RedisUrl url;
    url.kind = RedisUrl::Kind::tcp;
    if (rest.find_first_of("?#") != std::string_view::npos) {
        error = "redis:// URLs take no query or fragment";
        return std::nullopt;
    }
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        if (!parse_credentials(authority.substr(0, at), url, error))
            return std::nullopt;
        authority = authority.substr(at + 1);
    }
    if (!parse_host_port(authority, url, error))
        return std::nullopt;
    if (slash != std::string_view::npos) {
        auto db = rest.substr(slash + 1);
        if (!db.empty() && !parse_db(db, url, error))
            return std::nullopt;
    }
    return url;
}

std::optional<RedisUrl> parse_unix(std::string_view rest, std::string &error) {
    RedisUrl url;
    url.kind = RedisUrl::Kind::unix_socket;
    auto question = rest.find('?');
    auto path = rest.substr(0, question);
    if (path.size() < 2 || path.front() != '/') {
        error = "a unix socket needs an absolute path, unix:/path";
        return std::nullopt;
    }
    if (path.size() > max_socket_path_bytes) {
        error =
            "a unix socket path longer than " + std::to_string(max_socket_path_bytes) + " bytes";
        return std::nullopt;
    }
    url.path = std::string(path);
    if (question == std::string_view::npos)
        return url;
    bool seen_db = false, seen_password = false;
    auto query = rest.substr(question + 1);
    while (true) {
        auto amp = query.find('&');
        auto item = query.substr(0, amp);
        auto equals = item.find('=');
        auto name = item.substr(0, equals);
        auto value =
            equals == std::string_view::npos ? std::string_view() : item.substr(equals + 1);
        if (name == "db" && !seen_db && equals != std::string_view::npos) {
            seen_db = true;
            if (!parse_db(value, url, error))
                return std::nullopt;
        } else if (name == "password" && !seen_password && equals != std::string_view::npos) {
            seen_password = true;
            auto password = percent_decode(value);
            if (!password || password->empty()) {
                error =
                    password ? "an empty password" : "a malformed percent escape in the password";
                return std::nullopt;
            }
            url.password = std::move(*password);
        } else {
            error = "a unix socket URL takes only ?db=N and &password=P, once each";
            return std::nullopt;
        }
        if (amp == std::string_view::npos)
            break;
        query = query.substr(amp + 1);
    }
    return url;
}

} // namespace

std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string &error) {
    error.clear();
    if (text.size() > max_url_bytes) {
        error = "a Redis URL longer than " + std::to_string(max_url_bytes) + " bytes";
        return std::nullopt;
    }
    for (unsigned char c : text)
        if (c <= 0x20 || c >= 0x7f) {
            error = "a Redis URL with a space, a control byte or a byte that is not ASCII";
            return std::nullopt;
        }
    if (starts_with_nocase(text, "redis://"))
        return parse_tcp(text.substr(8), error);
    if (starts_with_nocase(text, "unix:"))
        return parse_unix(text.substr(5), error);
    if (starts_with_nocase(text, "rediss://"))
        error = "TLS (rediss://) is not supported";
    else
        error = "a Redis URL starts with redis:// or unix:";
    return std::nullopt;
}

std::string RedisUrl::display() const {
    if (kind == Kind::unix_socket)
        return "unix:" + path + "?db=" + std::to_string(db) +
               (password.empty() ? "" : "&password=***");
    std::string out = "redis://";
    if (!password.empty())
        out += percent_encode(user) + ":***@";
    out += host.find(':') == std::string::npos ? host : "[" + host + "]";
    return out + ":" + std::to_string(port) + "/" + std::to_string(db);
}

} // namespace portcullis::state
