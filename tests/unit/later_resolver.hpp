// A resolver for unit tests that answers later, from a thread of its own,
// as libunbound does: the answers of a ScriptedResolver, each `delay`
// after it was asked. The thread owns its state and stops by itself once
// the resolver is gone, so the resolver may die on any thread (also on
// its own, when an answer drops the last Lookups that held it); queued
// questions are then dropped, unanswered.
#pragma once

#include "scripted_resolver.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace portcullis::testing {

class LaterResolver : public Resolver {
  public:
    using Clock = std::chrono::steady_clock;

    LaterResolver(std::shared_ptr<ScriptedResolver> answers, std::chrono::milliseconds delay)
        : state_(std::make_shared<State>()) {
        state_->answers = std::move(answers);
        state_->delay = delay;
        std::thread([state = state_] { state->run(); }).detach();
    }

    ~LaterResolver() override {
        {
            std::lock_guard lock(state_->mutex);
            state_->stop = true;
            state_->queue.clear();
        }
        state_->changed.notify_all();
    }

    void resolve(const std::string &name, DnsType type, Callback done) override {
        {
            std::lock_guard lock(state_->mutex);
            state_->queue.push_back({Clock::now() + state_->delay, name, type, std::move(done)});
        }
        state_->changed.notify_all();
    }

    // How many answers came from the resolver's own thread.
    int answered() const {
        std::lock_guard lock(state_->mutex);
        return state_->answered;
    }

  private:
    struct Query {
        Clock::time_point due;
        std::string name;
        DnsType type;
        Callback done;
    };

    struct State {
        std::shared_ptr<ScriptedResolver> answers;
        std::chrono::milliseconds delay{};
        mutable std::mutex mutex;
        std::condition_variable changed;
        std::deque<Query> queue;
        int answered = 0;
        bool stop = false;

        void run() {
            std::unique_lock lock(mutex);
            while (!stop) {
                if (queue.empty()) {
                    changed.wait(lock);
                    continue;
                }
                if (Clock::now() < queue.front().due) {
                    changed.wait_until(lock, queue.front().due);
                    continue;
                }
                Query query = std::move(queue.front());
                queue.pop_front();
                ++answered;
                lock.unlock();
                answers->resolve(query.name, query.type, std::move(query.done));
                lock.lock();
            }
        }
    };

    std::shared_ptr<State> state_;
};

} // namespace portcullis::testing
