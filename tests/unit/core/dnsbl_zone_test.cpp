#include "core/config.hpp"

#include <doctest/doctest.h>

using namespace portcullis;

TEST_CASE("DNSBL zone entries parse like postscreen_dnsbl_sites") {
    struct Row {
        const char *text;
        bool valid;
        const char *zone;
        double weight;
    };
    const Row rows[] = {
        {"zen.example", true, "zen.example", 1},
        {"zen.example=127.0.0.[2..11]*3", true, "zen.example", 3},
        {"list.dnswl.example=127.0.[0..255].[1..3]*-5", true, "list.dnswl.example", -5},
        {"bl.example*2", true, "bl.example", 2},
        {"BL.Example.", true, "bl.example", 1},
        {"bl.example=127.0.0.[2;4..6]", true, "bl.example", 1},
        {"bl.example=127.0.0.[2..", false, "", 0},
        {"bl.example=127.0.0", false, "", 0},
        {"bl.example=127.0.0.256", false, "", 0},
        {"bl.example=127.0.0.[6..2]", false, "", 0},
        {"bl.example*", false, "", 0},
        {"bl.example*x", false, "", 0},
        {"", false, "", 0},
        {"bad zone", false, "", 0},
        {"=127.0.0.2", false, "", 0},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        std::string error;
        auto zone = DnsblZone::parse(row.text, &error);
        CHECK(zone.has_value() == row.valid);
        if (zone) {
            CHECK(zone->zone == row.zone);
            CHECK(zone->weight == row.weight);
        } else {
            CHECK_FALSE(error.empty());
        }
    }
}

TEST_CASE("DNSBL filters select return codes") {
    struct Row {
        const char *entry;
        const char *answer;
        bool matches;
    };
    const Row rows[] = {
        {"zen.example", "127.0.0.2", true},
        {"zen.example", "10.0.0.2", false},
        {"zen.example=127.0.0.[2..11]", "127.0.0.11", true},
        {"zen.example=127.0.0.[2..11]", "127.0.0.12", false},
        {"zen.example=127.0.0.[2..11]", "127.0.0.1", false},
        {"zen.example=127.0.0.[2;4]", "127.0.0.3", false},
        {"zen.example=127.0.0.[2;4]", "127.0.0.4", true},
        {"zen.example=127.0.0.2", "127.0.0.2", true},
        {"zen.example=127.0.0.2", "not an address", false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.entry);
        CAPTURE(row.answer);
        CHECK(DnsblZone::parse(row.entry)->matches(row.answer) == row.matches);
    }
}
