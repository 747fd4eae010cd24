// A state store in front of another that counts each call, and each
// failed call by its status, in the metrics registry. The daemon wraps
// the store it opens at start with it (and then shows the store's series);
// `portcullis db` and `check` use the store bare. Same contract as
// state/store.hpp; counting takes no lock.
#pragma once

#include "state/store.hpp"

#include <memory>

namespace portcullis::memory {

class MeteredStore final : public state::Store {
  public:
    explicit MeteredStore(std::shared_ptr<state::Store> store);

    state::Outcome get(std::string_view key, state::Time now,
                       std::optional<state::Entry> &value) override;
    state::Outcome put(std::string_view key, std::string_view value, state::Time expires,
                       state::Time now) override;
    state::Outcome put_if_absent(std::string_view key, std::string_view value, state::Time expires,
                                 state::Time now, std::optional<state::Entry> &existing) override;
    state::Outcome erase(std::string_view key) override;
    state::Outcome count_event(std::string_view key, state::Time now,
                               std::chrono::milliseconds window, std::chrono::milliseconds keep,
                               bool count, std::uint64_t &events) override;
    state::Outcome list(std::string_view prefix, state::Time now, std::size_t limit,
                        std::vector<state::Entry> &entries) override;
    state::Outcome stats(state::Time now, state::Stats &stats) override;
    std::string describe() const override { return store_->describe(); }

  private:
    std::shared_ptr<state::Store> store_;
};

} // namespace portcullis::memory
