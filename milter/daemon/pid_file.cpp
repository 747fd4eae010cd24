#include "pid_file.hpp"

#include "core/log.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace portcullis {

namespace {

std::string command_name(const std::string &process) {
    std::ifstream in("/proc/" + process + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

// The process id in a plain file of a few bytes; never follows a link.
std::optional<pid_t> pid_in(const std::string &path) {
    const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    struct stat status {};
    char text[32] = {};
    ssize_t length = -1;
    if (fstat(fd, &status) == 0 && S_ISREG(status.st_mode))
        length = read(fd, text, sizeof text - 1);
    close(fd);
    if (length <= 0)
        return std::nullopt;
    pid_t pid = 0;
    const auto [end, error] = std::from_chars(text, text + length, pid);
    if (error != std::errc() || end == text || pid <= 1 ||
        std::string_view(end, text + length - end).find_first_not_of(" \t\r\n") !=
            std::string_view::npos)
        return std::nullopt;
    return pid;
}

} // namespace

std::optional<pid_t> running_instance(const std::string &path) {
    if (path.empty())
        return std::nullopt;
    const auto pid = pid_in(path);
    if (!pid || *pid == getpid() || (kill(*pid, 0) != 0 && errno != EPERM))
        return std::nullopt;
    // A live process: portcullis, unless its name says otherwise (the PID
    // of a crashed milter reused). Without /proc, assume it is.
    const auto ours = command_name("self");
    if (!ours.empty() && command_name(std::to_string(*pid)) != ours)
        return std::nullopt;
    return pid;
}

std::optional<PidFile> PidFile::create(const std::string &path, std::string &error) {
    PidFile file;
    if (path.empty())
        return file;
    struct stat existing {};
    if (lstat(path.c_str(), &existing) == 0) {
        if (S_ISLNK(existing.st_mode)) {
            error = "the PID file " + path + " is a symbolic link: refusing to write through it";
            return std::nullopt;
        }
        if (!S_ISREG(existing.st_mode)) {
            error = "the PID file " + path + " is not a plain file";
            return std::nullopt;
        }
        if (unlink(path.c_str()) != 0 && errno != ENOENT) {
            error = "cannot remove the stale PID file " + path + ": " + std::strerror(errno);
            return std::nullopt;
        }
    } else if (errno != ENOENT) {
        error = "cannot examine the PID file " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    file.fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (file.fd_ < 0) {
        error = "cannot create the PID file " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    file.path_ = path;
    const auto text = std::to_string(getpid()) + "\n";
    if (fchmod(file.fd_, 0644) != 0 ||
        write(file.fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        error = "cannot write the PID file " + path + ": " + std::strerror(errno);
        file.remove();
        return std::nullopt;
    }
    return file;
}

PidFile::PidFile(PidFile &&other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
    other.fd_ = -1;
}

PidFile &PidFile::operator=(PidFile &&other) noexcept {
    if (this != &other) {
        remove();
        path_ = std::move(other.path_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

PidFile::~PidFile() {
    remove();
}

void PidFile::remove() {
    if (fd_ < 0)
        return;
    struct stat written {};
    struct stat now {};
    if (fstat(fd_, &written) == 0 && lstat(path_.c_str(), &now) == 0 &&
        written.st_dev == now.st_dev && written.st_ino == now.st_ino && unlink(path_.c_str()) != 0)
        log_warning("cannot remove the PID file " + path_ + ": " + std::strerror(errno));
    close(fd_);
    fd_ = -1;
}

} // namespace portcullis
