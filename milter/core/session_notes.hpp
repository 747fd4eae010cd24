// What a session's asynchronous work leaves for later. Checks are
// stateless: a result that prefetch() starts (an SPF evaluation) and
// evaluate() reads at RCPT meets here, one SessionNotes per session,
// reachable from CheckContext. Thread-safe: put_*() runs on whichever
// thread completes the work while the session's thread reads.
//
// Two lifetimes. A transaction note belongs to one MAIL transaction:
// forget_transaction() (new MAIL, RSET, a new HELO, end of message) drops
// them all, and a note put for an earlier transaction (an evaluation that
// finished late) is dropped on arrival, so a second MAIL starts afresh. A
// session note lives with the session; the oldest is dropped beyond
// max_session_notes, which bounds what a client repeating HELO can make
// us keep. Key notes by everything their value depends on.
#pragma once

#include <any>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

class SessionNotes : public std::enable_shared_from_this<SessionNotes> {
  public:
    using Transaction = std::uint64_t;
    static constexpr std::size_t max_session_notes = 16;

    // Shared, so that work finishing after the session ended can still
    // write (and nobody reads).
    static std::shared_ptr<SessionNotes> create() {
        return std::shared_ptr<SessionNotes>(new SessionNotes());
    }

    // The current transaction, to hand to put_for_transaction() later.
    Transaction transaction() const {
        std::lock_guard lock(mutex_);
        return transaction_;
    }

    void forget_transaction() {
        std::lock_guard lock(mutex_);
        ++transaction_;
        transaction_notes_.clear();
    }

    template <typename T>
    void put_for_transaction(Transaction transaction, std::string key, T value) {
        std::lock_guard lock(mutex_);
        if (transaction == transaction_)
            transaction_notes_.insert_or_assign(std::move(key), std::any(std::move(value)));
    }

    template <typename T> void put_for_session(std::string key, T value) {
        std::lock_guard lock(mutex_);
        if (!session_notes_.contains(key)) {
            session_order_.push_back(key);
            if (session_order_.size() > max_session_notes) {
                session_notes_.erase(session_order_.front());
                session_order_.pop_front();
            }
        }
        session_notes_.insert_or_assign(std::move(key), std::any(std::move(value)));
    }

    // A transaction note, else a session note, of that key and type.
    template <typename T> std::optional<T> get(std::string_view key) const {
        std::lock_guard lock(mutex_);
        for (const auto *notes : {&transaction_notes_, &session_notes_}) {
            auto it = notes->find(key);
            if (it == notes->end())
                continue;
            if (const T *value = std::any_cast<T>(&it->second))
                return *value;
        }
        return std::nullopt;
    }

  private:
    SessionNotes() = default;

    mutable std::mutex mutex_;
    Transaction transaction_ = 0;
    std::map<std::string, std::any, std::less<>> transaction_notes_;
    std::map<std::string, std::any, std::less<>> session_notes_;
    std::deque<std::string> session_order_;
};

} // namespace portcullis
