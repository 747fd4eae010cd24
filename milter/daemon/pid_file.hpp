// The PID file, written before privileges are dropped (as root, usually)
// into a directory the service user may own, such as /run/portcullis.
// That user must not be able to turn the write into one of another file:
// a stale file is removed only if it is a plain file naming no running
// portcullis, the new one is created with O_CREAT|O_EXCL|O_NOFOLLOW (a
// symbolic link or anything else put in its place makes the start fail),
// and its permissions are set on the descriptor: 0644 and the owner that
// created it, so the group (which the MTA's user may belong to) cannot
// write it. It is removed when the daemon ends, if it is still the file
// written.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace portcullis {

// The process id a PID file names, if that process is a running
// portcullis other than this one.
std::optional<pid_t> running_instance(const std::string &path);

class PidFile {
  public:
    PidFile() = default;
    // Removes a plain file at `path` (call after running_instance() found
    // none: it is stale), then writes this process's id. An empty path
    // makes a PidFile that writes nothing. On failure: std::nullopt, and
    // `error` says why.
    static std::optional<PidFile> create(const std::string &path, std::string &error);

    PidFile(PidFile &&other) noexcept;
    PidFile &operator=(PidFile &&other) noexcept;
    PidFile(const PidFile &) = delete;
    PidFile &operator=(const PidFile &) = delete;
    ~PidFile();

    // Removes the file now, if it is still the one written.
    void remove();

  private:
    std::string path_;
    int fd_ = -1;
};

} // namespace portcullis
