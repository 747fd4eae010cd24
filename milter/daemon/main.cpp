// portcullis: the milter daemon, `portcullis check`, `portcullis spf`,
// `portcullis rules`, `portcullis db` and `portcullis -n`.
#include "check_command.hpp"
#include "command_line.hpp"
#include "configuration.hpp"
#include "db_command.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "daemon.hpp"
#include "library_versions.hpp"
#include "rules_command.hpp"
#include "spf_command.hpp"

#include <cstring>
#include <iostream>

namespace po = boost::program_options;

namespace portcullis {

void add_config_overrides(po::options_description &description) {
    for (const auto &option : option_table())
        description.add_options()(std::string(option.name).c_str(),
                                  po::value<std::vector<std::string>>()->composing(),
                                  std::string(option.help).c_str());
}

std::vector<std::pair<std::string, std::string>>
collect_overrides(const po::variables_map &values) {
    std::vector<std::pair<std::string, std::string>> overrides;
    for (const auto &option : option_table()) {
        const std::string name(option.name);
        if (!values.count(name))
            continue;
        for (const auto &value : values[name].as<std::vector<std::string>>())
            overrides.emplace_back(name, value);
    }
    return overrides;
}

std::shared_ptr<const Runtime> load_command_runtime(const po::variables_map &values) {
    LogSettings logging;
    logging.to_syslog = false;
    logging.to_stderr = !values.count("json");
    configure_logging(logging);

    const auto verified = verify_configuration(values["config"].as<std::string>(),
                                               collect_overrides(values), true, Accounts::ignore);
    for (const auto &error : verified.errors)
        std::cerr << error.to_string() << "\n";
    return verified.runtime;
}

namespace {

// `portcullis -n`: the load steps of a start, nothing started.
int check_config(const std::string &file,
                 const std::vector<std::pair<std::string, std::string>> &overrides) {
    const auto verified = verify_configuration(file, overrides, false);
    for (const auto &error : verified.errors)
        std::cerr << error.to_string() << "\n";
    if (!verified.errors.empty())
        return exit_config_error;
    std::cout << file << ": configuration OK\n";
    return 0;
}

int main_command(int argc, char **argv) {
    po::options_description generic("portcullis [options]");
    generic.add_options()("config,c", po::value<std::string>()->default_value(default_config_file),
                          "configuration file")("foreground,f",
                                                "stay in the foreground and log to stderr too")(
        "check-config,n", "check the configuration and exit")("version,V", "print the version")(
        "help,h", "this help");
    po::options_description overrides("configuration options (override the file)");
    add_config_overrides(overrides);
    po::options_description all;
    all.add(generic).add(overrides);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), values);
        po::notify(values);
    } catch (const po::error &error) {
        std::cerr << "portcullis: " << error.what() << " (try --help)\n";
        return 64;
    }
    if (values.count("help")) {
        std::cout << "Usage: portcullis [-c FILE] [-f] [-n] [-V] [--option=value ...]\n"
                     "       portcullis check --ip ADDR [--helo NAME] [--from ADDR] "
                     "[--rcpt ADDR] [--json]\n"
                     "       portcullis spf --ip ADDR --sender ADDR [--helo NAME] [--json]\n"
                     "       portcullis rules [--json | --replies]\n"
                     "       portcullis db list|show|allow|delete|unblock|stats ... [--json]\n\n"
                  << generic << "\n"
                  << overrides;
        return 0;
    }
    if (values.count("version")) {
        std::cout << "portcullis " PORTCULLIS_VERSION "\n";
        for (const auto &[library, version] : library_versions())
            std::cout << library << " " << version << "\n";
        return 0;
    }
    const auto file = values["config"].as<std::string>();
    const auto pairs = collect_overrides(values);
    if (values.count("check-config"))
        return check_config(file, pairs);
    return run_daemon({file, pairs, values.count("foreground") > 0});
}

} // namespace
} // namespace portcullis

int main(int argc, char **argv) {
    try {
        if (argc > 1 && std::strcmp(argv[1], "check") == 0)
            return portcullis::check_command(argc - 1, argv + 1);
        if (argc > 1 && std::strcmp(argv[1], "spf") == 0)
            return portcullis::spf_command(argc - 1, argv + 1);
        if (argc > 1 && std::strcmp(argv[1], "rules") == 0)
            return portcullis::rules_command(argc - 1, argv + 1);
        if (argc > 1 && std::strcmp(argv[1], "db") == 0)
            return portcullis::db_command(argc - 1, argv + 1);
        return portcullis::main_command(argc, argv);
    } catch (const std::exception &error) {
        std::cerr << "portcullis: " << error.what() << "\n";
        return 70;
    }
}
