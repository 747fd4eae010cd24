#include "state/redis_url.hpp"

#include <doctest/doctest.h>

using namespace portcullis::state;

TEST_CASE("Redis URLs parse into their parts") {
    struct Row {
        const char *text;
        RedisUrl::Kind kind;
        const char *host_or_path;
        unsigned port;
        unsigned long db;
        const char *user;
        const char *password;
        const char *display;
    };
    using K = RedisUrl::Kind;
    const Row rows[] = {
        {"redis://127.0.0.1", K::tcp, "127.0.0.1", 6379, 0, "", "", "redis://127.0.0.1:6379/0"},
        {"redis://127.0.0.1:6380/2", K::tcp, "127.0.0.1", 6380, 2, "", "",
         "redis://127.0.0.1:6380/2"},
        {"REDIS://Cache.Example:1/", K::tcp, "Cache.Example", 1, 0, "", "",
         "redis://Cache.Example:1/0"},
        {"redis://redis_1.internal:65535/15", K::tcp, "redis_1.internal", 65535, 15, "", "",
         "redis://redis_1.internal:65535/15"},
        {"redis://[::1]:6390/3", K::tcp, "::1", 6390, 3, "", "", "redis://[::1]:6390/3"},
        {"redis://[2001:db8::7]", K::tcp, "2001:db8::7", 6379, 0, "", "",
         "redis://[2001:db8::7]:6379/0"},
        {"redis://:s3cret@10.0.0.2:6379/1", K::tcp, "10.0.0.2", 6379, 1, "", "s3cret",
         "redis://:***@10.0.0.2:6379/1"},
        {"redis://mx:p%40ss:w@host", K::tcp, "host", 6379, 0, "mx", "p@ss:w",
         "redis://mx:***@host:6379/0"},
        {"redis://a:b@c@host", K::tcp, "host", 6379, 0, "a", "b@c", "redis://a:***@host:6379/0"},
        {"redis://host/2147483647", K::tcp, "host", 6379, 2147483647, "", "",
         "redis://host:6379/2147483647"},
        {"unix:/run/redis/redis.sock", K::unix_socket, "/run/redis/redis.sock", 0, 0, "", "",
         "unix:/run/redis/redis.sock?db=0"},
        {"unix:/run/redis.sock?db=4", K::unix_socket, "/run/redis.sock", 0, 4, "", "",
         "unix:/run/redis.sock?db=4"},
        {"unix:/r.sock?password=x%26y&db=1", K::unix_socket, "/r.sock", 0, 1, "", "x&y",
         "unix:/r.sock?db=1&password=***"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        std::string error;
        auto url = parse_redis_url(row.text, error);
        REQUIRE_MESSAGE(url, error);
        CHECK(error.empty());
        CHECK(url->kind == row.kind);
        if (row.kind == K::tcp) {
            CHECK(url->host == row.host_or_path);
            CHECK(url->port == row.port);
        } else {
            CHECK(url->path == row.host_or_path);
        }
        CHECK(url->db == row.db);
        CHECK(url->user == row.user);
        CHECK(url->password == row.password);
        CHECK(url->display() == row.display);
    }
}

TEST_CASE("bad Redis URLs are refused with a reason, never an exception") {
    struct Row {
        std::string text;
        const char *reason; // a part of the error message
    };
    const Row rows[] = {
        {"", "starts with redis:// or unix:"},
        {"127.0.0.1:6379", "starts with redis:// or unix:"},
        {"http://127.0.0.1", "starts with redis:// or unix:"},
        {"rediss://127.0.0.1", "TLS"},
        {"redis://", "no host"},
        {"redis://:6379", "no host"},
        {"redis://host:0", "port must be a number from 1 to 65535"},
        {"redis://host:65536", "port must be a number from 1 to 65535"},
        {"redis://host:-1", "port must be a number from 1 to 65535"},
        {"redis://host:+80", "port must be a number from 1 to 65535"},
        {"redis://host:", "port must be a number from 1 to 65535"},
        {"redis://host:99999999999999999999", "port must be a number from 1 to 65535"},
        {"redis://host:6379x", "port must be a number from 1 to 65535"},
        {"redis://host/-1", "database must be a number"},
        {"redis://host/2147483648", "database must be a number"},
        {"redis://host/1/2", "database must be a number"},
        {"redis://host/db", "database must be a number"},
        {"redis://host?db=1", "no query or fragment"},
        {"redis://host#x", "no query or fragment"},
        {"redis://::1:6379", "IPv6 address must be written in brackets"},
        {"redis://[::1", "closing ]"},
        {"redis://[::1]x", "unexpected text after the IPv6 address"},
        {"redis://[not-v6]:1", "not an IPv6 address"},
        {"redis://[127.0.0.1]", "not an IPv6 address"},
        {"redis://ho%st", "not a host name"},
        {"redis://host name", "space"},
        {"redis://host\n", "control byte"},
        {std::string("redis://host\0x", 14), "control byte"},
        {"redis://h\xc3\xa9", "not ASCII"},
        {"redis://" + std::string(254, 'a'), "not a host name"},
        {"redis://secret@host", "[user]:password@"},
        {"redis://:@host", "empty password"},
        {"redis://:a%zzb@host", "malformed percent escape"},
        {"redis://:abc%4@host", "malformed percent escape"},
        {"redis://:abc%@host", "malformed percent escape"},
        {"unix:", "absolute path"},
        {"unix:/", "absolute path"},
        {"unix:run/redis.sock", "absolute path"},
        {"unix:/" + std::string(107, 's'), "longer than 107 bytes"},
        {"unix:/r.sock?db=x", "database must be a number"},
        {"unix:/r.sock?db=1&db=2", "only ?db=N and &password=P, once each"},
        {"unix:/r.sock?timeout=5", "only ?db=N and &password=P, once each"},
        {"unix:/r.sock?db", "only ?db=N and &password=P, once each"},
        {"unix:/r.sock?", "only ?db=N and &password=P, once each"},
        {"unix:/r.sock?password=", "empty password"},
        {"redis://" + std::string(5000, 'a'), "longer than 4096 bytes"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        std::string error;
        std::optional<RedisUrl> url;
        CHECK_NOTHROW(url = parse_redis_url(row.text, error));
        CHECK_FALSE(url);
        CHECK_MESSAGE(error.find(row.reason) != std::string::npos, error);
    }
}

TEST_CASE("a refused URL never quotes its password") {
    std::string error;
    CHECK_FALSE(parse_redis_url("redis://:hunter2@host:99999", error));
    CHECK(error.find("hunter2") == std::string::npos);
    CHECK_FALSE(parse_redis_url("unix:/r.sock?password=hunter2&db=x", error));
    CHECK(error.find("hunter2") == std::string::npos);
}

TEST_CASE("the display of a URL shows a user that needs escaping escaped") {
    std::string error;
    auto url = parse_redis_url("redis://a%0Ab:pw@host", error);
    REQUIRE(url);
    CHECK(url->user == "a\nb");
    CHECK(url->display() == "redis://a%0Ab:***@host:6379/0");
}
