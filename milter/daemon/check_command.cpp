#include "check_command.hpp"

#include "command_line.hpp"
#include "core/log.hpp"
#include "session/report.hpp"

#include <iostream>

namespace po = boost::program_options;

namespace portcullis {

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
    if (values.count("json"))
        std::cout << report_json(report).dump(2) << "\n";
    else
        std::cout << report_text(report);
    return 0;
}

} // namespace portcullis
