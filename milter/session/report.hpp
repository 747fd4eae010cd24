// What `portcullis check` prints: every stage's check results and the
// final decision, as text for a person or as one JSON object.
#pragma once

#include "session.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace portcullis {

struct RecipientReport {
    std::string address;
    RecipientAnswer answer;
};

struct CheckReport {
    const Session &session;
    const Evaluation &evaluation;
    std::vector<RecipientReport> recipients;
    Reply reply; // the rendered reply of the decision (reject/tempfail)
};

nlohmann::json report_json(const CheckReport &report);
std::string report_text(const CheckReport &report);

} // namespace portcullis
