#include "spf_command.hpp"

#include "checks/spf_identity.hpp"
#include "command_line.hpp"
#include "core/log.hpp"
#include "session/runtime.hpp"

#include <nlohmann/json.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace portcullis {

namespace {

std::string or_none(const std::string &text) {
    return text.empty() ? "(none)" : log_safe(text, 1024);
}

} // namespace

int spf_command(int argc, char **argv) {
    po::options_description options("portcullis spf");
    options.add_options()("config,c", po::value<std::string>()->default_value(default_config_file),
                          "configuration file")("ip", po::value<std::string>(),
                                                "client address (required)")(
        "sender", po::value<std::string>(),
        "MAIL FROM address (required; '' for the null sender, which needs --helo)")(
        "helo", po::value<std::string>()->default_value(""),
        "HELO/EHLO name")("json", "print one JSON object")("help,h", "this help");
    po::options_description overrides("configuration options (override the file)");
    add_config_overrides(overrides);
    po::options_description all;
    all.add(options).add(overrides);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), values);
        po::notify(values);
    } catch (const po::error &error) {
        std::cerr << "portcullis spf: " << error.what() << "\n";
        return 64;
    }
    if (values.count("help") || !values.count("ip") || !values.count("sender")) {
        std::cout << "Usage: portcullis spf --ip ADDR --sender ADDR [--helo NAME] [--json] "
                     "[-c FILE] [--option=value ...]\n\n"
                  << options;
        return values.count("help") ? 0 : 64;
    }
    const auto client = IpAddress::parse(values["ip"].as<std::string>());
    if (!client) {
        std::cerr << "portcullis spf: --ip is not an IP address\n";
        return 64;
    }
    const auto sender = values["sender"].as<std::string>();
    const auto helo = values["helo"].as<std::string>();
    if ((sender.empty() || sender == "<>") && helo.empty()) {
        std::cerr << "portcullis spf: the null sender is checked as postmaster@HELO: give --helo\n";
        return 64;
    }
    auto runtime = load_command_runtime(values);
    if (!runtime)
        return 78;
    const Config &config = *runtime->config;

    const auto request = spf_mail_from_request(*client, sender, helo, config.spf.receiver);
    const auto result = spf_check_host_blocking(runtime->resolver, request, spf_options(config),
                                                config.resolver.stage_budget);

    if (values.count("json")) {
        const nlohmann::json out = {
            {"result", std::string(to_string(result.result))},
            {"explanation", log_safe(result.explanation, 1024)},
            {"mechanism", log_safe(result.mechanism, 1024)},
            {"problem", log_safe(result.problem, 1024)},
            {"dns_lookups", result.dns_lookups},
            {"void_lookups", result.void_lookups},
            {"identity", "mailfrom"},
            {"domain", log_safe(request.domain, 1024)},
            {"sender", log_safe(request.sender, 1024)},
            {"client", client->to_string()},
        };
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << "client " << client->to_string() << ", sender <" << log_safe(request.sender, 1024)
              << ">" << (helo.empty() ? "" : ", helo " + log_safe(helo, 1024)) << "\n"
              << "identity mailfrom, domain " << or_none(request.domain) << "\n"
              << "result: " << to_string(result.result) << "\n"
              << "mechanism: " << or_none(result.mechanism) << "\n"
              << "explanation: " << or_none(result.explanation) << "\n"
              << "problem: " << or_none(result.problem) << "\n"
              << "DNS lookups: " << result.dns_lookups << " of " << spf_max_dns_lookups
              << ", void lookups: " << result.void_lookups << " of " << config.spf.void_lookup_limit
              << "\n";
    return 0;
}

} // namespace portcullis
