// The asynchronous driver of check_host(). An Evaluation keeps the answers
// it has seen; each time one that the last pass waited for arrives, it
// runs a new pass (evaluator.hpp) from the start, and starts whatever
// lookups that pass lists. A prefetched answer is only kept: the pass it
// serves runs when a needed one comes. One pass runs at a time: a needed
// answer arriving during a pass (from another thread, or synchronously
// from inside Lookups::start) only marks the evaluation dirty, and the
// running driver loops. The lookups' continuations hold the
// Evaluation; the Evaluation holds the Lookups only weakly (or strongly
// when it made them itself), so a session that goes away takes its
// pending SPF evaluations with it.
#include "spf/spf.hpp"

#include "spf/evaluator.hpp"

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <set>

namespace portcullis {

namespace {

class Evaluation : public std::enable_shared_from_this<Evaluation> {
  public:
    Evaluation(SpfRequest request, SpfOptions options, SpfDone done,
               const std::shared_ptr<Lookups> &lookups, bool own_lookups)
        : request_(std::move(request)), options_(std::move(options)), done_(std::move(done)),
          lookups_(lookups), owned_lookups_(own_lookups ? lookups : nullptr) {
        if (!options_.timestamp)
            options_.timestamp = static_cast<std::int64_t>(std::time(nullptr));
    }

    void start() {
        std::unique_lock lock(mutex_);
        running_ = true;
        drive(lock);
    }

  private:
    void on_answer(const spf::LookupKey &key, const DnsAnswer &answer) {
        std::unique_lock lock(mutex_);
        if (finished_)
            return;
        answers_.insert_or_assign(key, answer);
        const bool needed = waiting_.contains(key);
        if (running_) {
            dirty_ = dirty_ || needed;
            return;
        }
        if (!needed)
            return;
        running_ = true;
        drive(lock);
    }

    // Runs passes until one completes or every lookup it needs is in
    // flight. Entered with running_ set and the lock held; leaves with
    // running_ cleared, and without the lock once the result is out.
    void drive(std::unique_lock<std::mutex> &lock) {
        while (true) {
            dirty_ = false;
            auto outcome = spf::evaluate_pass(request_, options_, answers_, records_);
            if (outcome.result) {
                finished_ = true;
                running_ = false;
                auto done = std::move(done_);
                auto owned = std::move(owned_lookups_);
                answers_.clear();
                records_ = spf::RecordCache();
                lock.unlock();
                if (done)
                    done(std::move(*outcome.result));
                return; // `owned` goes here, outside the lock
            }
            waiting_ = std::set<spf::LookupKey>(outcome.needed.begin(), outcome.needed.end());
            std::vector<spf::LookupKey> fresh;
            for (auto *list : {&outcome.needed, &outcome.prefetch})
                for (auto &key : *list)
                    if (started_.insert(key).second)
                        fresh.push_back(std::move(key));
            lock.unlock();
            const auto lookups = lookups_.lock();
            if (lookups) {
                for (const auto &key : fresh) {
                    lookups->start(key.name, key.type,
                                   [self = shared_from_this(), key](const DnsAnswer &answer) {
                                       self->on_answer(key, answer);
                                   });
                }
            }
            lock.lock();
            if (!lookups) {
                finished_ = true; // the session is gone: nobody waits for a result
                running_ = false;
                return;
            }
            if (!dirty_) {
                running_ = false;
                return;
            }
        }
    }

    const SpfRequest request_;
    SpfOptions options_;
    SpfDone done_;
    std::weak_ptr<Lookups> lookups_;
    std::shared_ptr<Lookups> owned_lookups_;

    std::mutex mutex_;
    spf::AnswerCache answers_;
    spf::RecordCache records_;
    std::set<spf::LookupKey> started_;
    std::set<spf::LookupKey> waiting_; // the `needed` of the last pass
    bool running_ = false;
    bool dirty_ = false;
    bool finished_ = false;
};

} // namespace

std::string_view to_string(SpfResult::Code code) {
    switch (code) {
    case SpfResult::Code::none:
        return "none";
    case SpfResult::Code::neutral:
        return "neutral";
    case SpfResult::Code::pass:
        return "pass";
    case SpfResult::Code::fail:
        return "fail";
    case SpfResult::Code::softfail:
        return "softfail";
    case SpfResult::Code::temperror:
        return "temperror";
    case SpfResult::Code::permerror:
        return "permerror";
    }
    return "?";
}

SpfRequest spf_mail_from_request(const IpAddress &client, std::string_view mail_from,
                                 std::string_view helo, std::string_view receiver) {
    if (mail_from.size() >= 2 && mail_from.front() == '<' && mail_from.back() == '>')
        mail_from = mail_from.substr(1, mail_from.size() - 2);
    if (mail_from.empty())
        return spf_helo_request(client, helo, receiver);
    SpfRequest request;
    request.client = client;
    request.helo = std::string(helo);
    request.receiver = std::string(receiver);
    const auto at = mail_from.rfind('@');
    if (at == std::string_view::npos) {
        request.sender = std::string(mail_from); // no domain: check_host() gives none
        return request;
    }
    const auto local_part = mail_from.substr(0, at);
    request.domain = std::string(mail_from.substr(at + 1));
    request.sender = (local_part.empty() ? std::string("postmaster") : std::string(local_part)) +
                     "@" + request.domain;
    return request;
}

SpfRequest spf_helo_request(const IpAddress &client, std::string_view helo,
                            std::string_view receiver) {
    SpfRequest request;
    request.client = client;
    request.helo = std::string(helo);
    request.domain = std::string(helo);
    request.sender = "postmaster@" + request.domain;
    request.receiver = std::string(receiver);
    return request;
}

void spf_check_host(const std::shared_ptr<Lookups> &lookups, SpfRequest request, SpfOptions options,
                    SpfDone done) {
    std::make_shared<Evaluation>(std::move(request), std::move(options), std::move(done), lookups,
                                 false)
        ->start();
}

void spf_check_host(std::shared_ptr<Resolver> resolver, SpfRequest request, SpfOptions options,
                    SpfDone done) {
    std::make_shared<Evaluation>(std::move(request), std::move(options), std::move(done),
                                 Lookups::create(std::move(resolver)), true)
        ->start();
}

SpfResult spf_check_host_blocking(std::shared_ptr<Resolver> resolver, SpfRequest request,
                                  SpfOptions options, std::chrono::milliseconds budget) {
    struct Slot {
        std::mutex mutex;
        std::condition_variable ready;
        std::optional<SpfResult> result;
    };
    auto slot = std::make_shared<Slot>();
    spf_check_host(std::move(resolver), std::move(request), std::move(options),
                   [slot](SpfResult result) {
                       {
                           std::lock_guard lock(slot->mutex);
                           slot->result = std::move(result);
                       }
                       slot->ready.notify_all();
                   });
    std::unique_lock lock(slot->mutex);
    if (!slot->ready.wait_for(lock, budget, [&] { return slot->result.has_value(); })) {
        SpfResult timeout;
        timeout.result = SpfResult::Code::temperror;
        timeout.problem = "no result within " + std::to_string(budget.count()) + " ms";
        return timeout;
    }
    return std::move(*slot->result);
}

} // namespace portcullis
