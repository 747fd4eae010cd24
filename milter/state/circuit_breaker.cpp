// The breaker's states; see circuit_breaker.hpp.
#include "state/circuit_breaker.hpp"

namespace portcullis::state {

CircuitBreaker::Admission CircuitBreaker::admit(TimePoint now) {
    std::lock_guard lock(mutex_);
    if (!open_)
        return Admission::pass;
    if (now < retry_at_ || trial_running_)
        return Admission::refused;
    trial_running_ = true;
    return Admission::trial;
}

void CircuitBreaker::report(Admission admission, Result result, TimePoint now) {
    std::lock_guard lock(mutex_);
    const bool trial = admission == Admission::trial;
    if (trial)
        trial_running_ = false;
    switch (result) {
    case Result::neutral:
        return;
    case Result::success:
        failures_ = 0;
        open_ = false;
        trial_running_ = false;
        return;
    case Result::failure:
        if (open_) {
            // A call let through before the breaker opened says nothing new.
            if (trial) {
                retry_at_ = now + interval_;
                ++openings_;
            }
            return;
        }
        if (++failures_ >= threshold_) {
            open_ = true;
            retry_at_ = now + interval_;
            ++openings_;
        }
        return;
    }
}

bool CircuitBreaker::open() const {
    std::lock_guard lock(mutex_);
    return open_;
}

std::uint64_t CircuitBreaker::openings() const {
    std::lock_guard lock(mutex_);
    return openings_;
}

CircuitBreaker::TimePoint CircuitBreaker::retry_at() const {
    std::lock_guard lock(mutex_);
    return retry_at_;
}

} // namespace portcullis::state
