#include "db_command.hpp"

#include "checks/check.hpp"
#include "command_line.hpp"
#include "core/log.hpp"
#include "db_operations.hpp"
#include "memory/open_store.hpp"
#include "state/lmdb_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace po = boost::program_options;

namespace portcullis {

namespace {

const char *const usage = "Usage: portcullis db list [PREFIX] [--limit N] [--json]\n"
                          "       portcullis db show ADDRESS [--limit N] [--json]\n"
                          "       portcullis db allow ADDRESS|NETWORK [--for DURATION] [--json]\n"
                          "       portcullis db delete KEY [--json]\n"
                          "       portcullis db unblock ADDRESS [--json]\n"
                          "       portcullis db stats [--json]\n"
                          "  each with [-c FILE] [--option=value ...]\n\n";

// The files LMDB keeps in `directory` that exist now.
std::vector<std::string> existing_lmdb_files(const std::string &directory) {
    std::vector<std::string> found;
    for (const std::string &name : {std::string(state::LmdbStore::file_name),
                                    std::string(state::LmdbStore::file_name) + "-lock"}) {
        struct stat status {};
        if (::lstat((directory + "/" + name).c_str(), &status) == 0)
            found.push_back(name);
    }
    return found;
}

// Root has just created LMDB files in a directory that belongs to another
// user: give them to that user, or the daemon could not open the store.
void give_to_directory_owner(const std::string &directory, const std::vector<std::string> &before) {
    if (::geteuid() != 0)
        return;
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat owner {};
    if (::fstat(fd, &owner) == 0 && owner.st_uid != 0)
        for (const auto &name : existing_lmdb_files(directory)) {
            if (std::find(before.begin(), before.end(), name) != before.end())
                continue;
            struct stat file {};
            if (::fstatat(fd, name.c_str(), &file, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(file.st_mode) && file.st_uid == 0 &&
                ::fchownat(fd, name.c_str(), owner.st_uid, owner.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
                std::cerr << "portcullis: cannot give " << directory << "/" << name
                          << " to the owner of its directory: " << std::strerror(errno) << "\n";
        }
    ::close(fd);
}

int fail_usage(const std::string &message) {
    std::cerr << "portcullis db: " << message << " (try --help)\n";
    return db::exit_usage;
}

} // namespace

std::unique_ptr<state::Store> open_state_store(const Config &config, bool create,
                                               std::string &error) {
    const memory::StoreUse use{.sweep = false, .create_directory = false};
    if (config.state.backend == "redis")
        return memory::open_store(config, use, error);
    const std::string &directory = config.state.path;
    const std::string file = directory + "/" + state::LmdbStore::file_name;
    struct stat status {};
    if (!create && ::stat(file.c_str(), &status) != 0) {
        error = "state.path: no store at " + file +
                (errno == ENOENT ? std::string(" (the daemon creates it when it starts)")
                                 : ": " + std::string(std::strerror(errno)));
        return nullptr;
    }
    const auto before = existing_lmdb_files(directory);
    auto store = memory::open_store(config, use, error);
    if (store)
        give_to_directory_owner(directory, before);
    return store;
}

int db_command(int argc, char **argv) {
    po::options_description options("portcullis db");
    options.add_options()("config,c", po::value<std::string>()->default_value(default_config_file),
                          "configuration file")("limit", po::value<std::string>(),
                                                "list, show: at most N entries (default 1000)")(
        "for", po::value<std::string>(),
        "allow: for DURATION (250ms, 5s, 2m, 12h, 36d; default greylist.allow-time)")(
        "json", "print one JSON document")("help,h", "this help");
    po::options_description hidden;
    hidden.add_options()("words", po::value<std::vector<std::string>>(), "");
    po::positional_options_description positional;
    positional.add("words", -1);
    po::options_description overrides("configuration options (override the file)");
    add_config_overrides(overrides);
    po::options_description all;
    all.add(options).add(hidden).add(overrides);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(),
                  values);
        po::notify(values);
    } catch (const po::error &error) {
        return fail_usage(db::printable(error.what()));
    }
    if (values.count("help")) {
        std::cout << usage << options;
        return db::exit_done;
    }
    db::Arguments arguments;
    if (values.count("words"))
        arguments.words = values["words"].as<std::vector<std::string>>();
    arguments.json = values.count("json") > 0;
    if (values.count("limit"))
        arguments.limit = values["limit"].as<std::string>();
    if (values.count("for"))
        arguments.duration = values["for"].as<std::string>();
    std::string problem;
    const auto request = db::parse_request(arguments, problem);
    if (!request)
        return fail_usage(problem);

    LogSettings logging;
    logging.to_syslog = false;
    logging.to_stderr = true;
    configure_logging(logging);
    const auto loaded = load_config(values["config"].as<std::string>(), collect_overrides(values));
    for (const auto &error : loaded.errors)
        std::cerr << error.to_string() << "\n";
    if (!loaded.config)
        return db::exit_usage;
    const Config &config = *loaded.config;
    // What a start and `portcullis -n` report of the state options beyond
    // load_config() (the replies and check data files do not matter here).
    if (auto why = memory::store_options_problem(config); !why.empty()) {
        std::cerr << config.error("state.redis", config.state.redis, why).to_string() << "\n";
        return db::exit_usage;
    }

    std::string error;
    auto store = open_state_store(config, request->creates(), error);
    if (!store) {
        std::cerr << "portcullis db: cannot open the store: " << db::printable(error) << "\n";
        if (request->json)
            std::cout << nlohmann::json{{"error", db::printable(error)}, {"status", "unavailable"}}
                             .dump(2)
                      << "\n";
        return db::exit_store_failed;
    }
    return db::run(*request, *store, config, state::Clock::now(), std::cout, std::cerr);
}

} // namespace portcullis
