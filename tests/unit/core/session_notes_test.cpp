// SessionNotes: transaction notes end with their transaction (also when
// they arrive late), session notes stay but are bounded, reads are typed,
// and puts from other threads are safe.
#include "core/session_notes.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using namespace portcullis;

TEST_CASE("transaction notes end with their transaction, late ones are dropped") {
    auto notes = SessionNotes::create();
    const auto first = notes->transaction();
    notes->put_for_transaction(first, "spf a@x", 1);
    notes->put_for_session("spf helo", std::string("kept"));
    CHECK(notes->get<int>("spf a@x") == 1);

    notes->forget_transaction();
    CHECK_FALSE(notes->get<int>("spf a@x"));
    CHECK(notes->get<std::string>("spf helo") == "kept");

    notes->put_for_transaction(first, "spf a@x", 2); // finished after the reset
    CHECK_FALSE(notes->get<int>("spf a@x"));
    notes->put_for_transaction(notes->transaction(), "spf a@x", 3);
    CHECK(notes->get<int>("spf a@x") == 3);
}

TEST_CASE("reads are typed and session notes are bounded") {
    auto notes = SessionNotes::create();
    notes->put_for_session("key", 7);
    CHECK_FALSE(notes->get<std::string>("key"));
    CHECK_FALSE(notes->get<int>("other"));
    for (int i = 0; i < 40; ++i)
        notes->put_for_session("helo " + std::to_string(i), i);
    CHECK_FALSE(notes->get<int>("key"));
    CHECK_FALSE(notes->get<int>("helo 23"));
    CHECK(notes->get<int>("helo 24") == 24);
    CHECK(notes->get<int>("helo 39") == 39);
}

TEST_CASE("notes may be put from other threads while the session reads" *
          doctest::test_suite("threads")) {
    auto notes = SessionNotes::create();
    const auto transaction = notes->transaction();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([notes, transaction, t] {
            for (int i = 0; i < 500; ++i) {
                notes->put_for_transaction(transaction, "t" + std::to_string(t), i);
                notes->put_for_session("s" + std::to_string(t), i);
            }
        });
    for (int i = 0; i < 500; ++i)
        (void)notes->get<int>("t0");
    for (auto &thread : threads)
        thread.join();
    for (int t = 0; t < 4; ++t) {
        CHECK(notes->get<int>("t" + std::to_string(t)) == 499);
        CHECK(notes->get<int>("s" + std::to_string(t)) == 499);
    }
}
