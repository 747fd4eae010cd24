// The message of a session's current transaction, as session/message.cpp
// keeps it; here so that session.cpp, which owns and resets it, sees the
// whole type. Internal to the session library.
#pragma once

#include "session.hpp"

#include <optional>
#include <utility>

namespace portcullis {

struct Session::MessageState {
    explicit MessageState(const Config &config)
        : header({config.message.max_fields, static_cast<std::size_t>(config.message.max_bytes)}) {}

    message::HeaderBlock header;
    std::unique_ptr<message::DkimVerification> dkim;
    bool dkim_dropped = false; // the header went beyond its limits: not verified
    MessageFacts facts;
    std::size_t authentication_results_seen = 0;
    std::vector<std::size_t> ours; // indexes of A-R fields with our authserv-id
    bool header_ended = false;
    std::vector<StagedResult> results; // of the header and message stages
    // The refusal decided last (the envelope's, then the header's): not
    // made again at a later stage.
    std::optional<std::pair<Verdict, std::string>> decided;
};

} // namespace portcullis
