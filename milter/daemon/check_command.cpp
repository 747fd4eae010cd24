#include "check_command.hpp"

#include "command_line.hpp"
#include "core/log.hpp"
#include "db_command.hpp"
#include "db_operations.hpp"
#include "memory/client_state.hpp"
#include "session/report.hpp"

#include <iostream>

namespace po = boost::program_options;

namespace portcullis {

namespace {

// What the state store holds about the client, as `portcullis db show`
// reads it (no triplets), never writing: no store is created, no event
// counted. When the store cannot be opened or read, why.
struct StateLook {
    std::string store; // its description, when opened
    std::string why;   // empty when read
    memory::ClientState client;
};

StateLook look_at_state(const Config &config, const IpAddress &client, state::Time now) {
    StateLook look;
    auto store = open_state_store(config, false, look.why);
    if (!store)
        return look;
    look.store = store->describe();
    auto outcome = memory::read_client_state(*store, config, client, now, {}, look.client);
    if (!outcome.ok())
        look.why = std::string(state::to_string(outcome.status)) + ": " + outcome.why;
    return look;
}

nlohmann::json state_json(const StateLook &look, const Config &config, state::Time now) {
    if (!look.why.empty())
        return {{"available", false}, {"why", db::printable(look.why)}};
    auto out = db::client_state_json(look.client, {}, config, now);
    out["available"] = true;
    out["store"] = db::printable(look.store);
    return out;
}

std::string state_text(const StateLook &look, const Config &config, state::Time now) {
    if (!look.why.empty())
        return "state: not available: " + db::printable(look.why) + "\n";
    return "state (" + db::printable(look.store) + "):\n" +
           db::client_state_text(look.client, {}, config, now, "  ");
}

} // namespace

int check_command(int argc, char **argv) {
    po::options_description options("portcullis check");
    options.add_options()("config,c", po::value<std::string>()->default_value(default_config_file),
                          "configuration file")("ip", po::value<std::string>(),
                                                "client address (required)")(
        "hostname", po::value<std::string>()->default_value(""),
        "client name as the MTA would report it")(
        "helo", po::value<std::vector<std::string>>()->composing(),
        "HELO/EHLO argument (repeat for a second HELO)")(
        "from", po::value<std::string>(), "envelope sender (empty for the null sender)")(
        "auth", po::value<std::string>()->default_value(""), "SMTP AUTH login name")(
        "rcpt", po::value<std::vector<std::string>>()->composing(),
        "recipient (repeatable)")("json", "print one JSON object")("help,h", "this help");
    po::options_description overrides("configuration options (override the file)");
    add_config_overrides(overrides);
    po::options_description all;
    all.add(options).add(overrides);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), values);
        po::notify(values);
    } catch (const po::error &error) {
        std::cerr << "portcullis check: " << error.what() << "\n";
        return 64;
    }
    if (values.count("help") || !values.count("ip")) {
        std::cout << options;
        return values.count("help") ? 0 : 64;
    }
    auto client = IpAddress::parse(values["ip"].as<std::string>());
    if (!client) {
        std::cerr << "portcullis check: --ip is not an IP address\n";
        return 64;
    }
    auto runtime = load_command_runtime(values);
    if (!runtime)
        return 78;

    Session session(runtime, "check");
    session.connect(*client, values["hostname"].as<std::string>(), "", std::nullopt);
    if (values.count("helo"))
        for (const auto &helo : values["helo"].as<std::vector<std::string>>())
            session.helo(helo);
    if (values.count("from"))
        session.mail(values["from"].as<std::string>(), values["auth"].as<std::string>());

    const Evaluation &evaluation = session.evaluate();
    CheckReport report{session, evaluation, {}, {}};
    const auto &decision = evaluation.decision;
    if (decision.verdict == Verdict::reject || decision.verdict == Verdict::tempfail)
        report.reply = session.render(decision, "");
    if (values.count("rcpt")) {
        LogSettings quiet;
        quiet.to_syslog = false;
        configure_logging(quiet);
        for (const auto &recipient : values["rcpt"].as<std::vector<std::string>>()) {
            report.recipients.push_back({recipient, session.recipient(recipient)});
            if (decision.verdict == Verdict::reject || decision.verdict == Verdict::tempfail)
                report.reply = report.recipients.back().answer.reply;
        }
    }
    const Config &config = *runtime->config;
    const auto now = state::Clock::now();
    const StateLook look = look_at_state(config, *client, now);
    if (values.count("json")) {
        auto out = report_json(report);
        out["state"] = state_json(look, config, now);
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << report_text(report) << state_text(look, config, now);
    }
    return 0;
}

} // namespace portcullis
