#include "verdict.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace portcullis {

std::string_view to_string(Stage stage) {
    switch (stage) {
    case Stage::connect:
        return "connect";
    case Stage::helo:
        return "helo";
    case Stage::mail:
        return "mail";
    case Stage::rcpt:
        return "rcpt";
    case Stage::header:
        return "header";
    case Stage::message:
        return "message";
    }
    return "?";
}

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
    case Outcome::pass:
        return "pass";
    case Outcome::fail:
        return "fail";
    case Outcome::error:
        return "error";
    case Outcome::skip:
        return "skip";
    }
    return "?";
}

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
    case Verdict::continue_:
        return "continue";
    case Verdict::accept:
        return "accept";
    case Verdict::tempfail:
        return "tempfail";
    case Verdict::reject:
        return "reject";
    }
    return "?";
}

std::optional<Action> Action::parse(std::string_view text) {
    if (text == "ignore")
        return Action{ActionKind::ignore};
    if (text == "log")
        return Action{ActionKind::log};
    if (text == "tempfail")
        return Action{ActionKind::tempfail};
    if (text == "reject")
        return Action{ActionKind::reject};
    constexpr std::string_view prefix = "score:";
    if (text.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    auto number = text.substr(prefix.size());
    if (!number.empty() && number.front() == '+')
        number.remove_prefix(1);
    double score = 0;
    auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), score);
    if (number.empty() || error != std::errc() || end != number.data() + number.size() ||
        !std::isfinite(score))
        return std::nullopt;
    return Action{ActionKind::score, score};
}

std::string Action::to_string() const {
    switch (kind) {
    case ActionKind::ignore:
        return "ignore";
    case ActionKind::log:
        return "log";
    case ActionKind::tempfail:
        return "tempfail";
    case ActionKind::reject:
        return "reject";
    case ActionKind::score:
        return "score:" + format_number(score);
    }
    return "?";
}

std::string format_number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

} // namespace portcullis
