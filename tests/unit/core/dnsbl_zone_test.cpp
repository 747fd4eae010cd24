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

TEST_CASE("defect: a zone that no query name can hold is accepted") {
    // An IPv6 client's query name puts 32 nibbles and their dots (64
    // bytes) before the zone, and a name has at most 253 bytes.
    const std::string label63(63, 'a');
    const std::string zone189 = label63 + "." + label63 + "." + std::string(61, 'b');
    REQUIRE(zone189.size() == 189);
    struct Row {
        std::string entry;
        bool valid;
    };
    const Row rows[] = {
        {label63 + ".example", true},   {label63 + "a.example", false}, // a label of 64 bytes
        {"bl." + label63 + "a", false}, {zone189, true},
        {zone189 + "b", false},         {zone189 + "=127.0.0.2*3", true},
        {"bl.example.", true},   // one trailing dot is the root
        {"bl.example..", false}, // zone_entry_fuzz: an empty label after the dot
    };
    for (const auto &row : rows) {
        CAPTURE(row.entry);
        std::string error;
        const auto zone = DnsblZone::parse(row.entry, &error);
        CHECK(zone.has_value() == row.valid);
        if (zone)
            CHECK(64 + zone->zone.size() <= 253);
        else
            CHECK_FALSE(error.empty());
    }
}
