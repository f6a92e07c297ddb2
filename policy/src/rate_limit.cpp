#include "pampero/policy/rate_limit.hpp"

#include <charconv>

namespace pampero::policy {
namespace {

constexpr std::chrono::seconds kHour{3600};

}  // namespace

RateLimitConfig RateLimiter::effective(const UserLimits& own) const {
    RateLimitConfig c = config_;
    c.messages_per_hour = own.messages_per_hour.value_or(c.messages_per_hour);
    c.recipients_per_hour = own.recipients_per_hour.value_or(c.recipients_per_hour);
    c.recipients_per_message = own.recipients_per_message.value_or(c.recipients_per_message);
    return c;
}

Result<std::optional<Exceeded>> RateLimiter::recipient(const std::vector<std::string>& identities,
                                                       std::string_view instance,
                                                       const UserLimits& own) {
    const RateLimitConfig cfg = effective(own);
    std::optional<Exceeded> over;
    if (cfg.recipients_per_message > 0 && !instance.empty()) {
        auto n = state_.increment("rl:pm:" + std::string(instance), kHour);
        if (!n) return n.error();
        if (*n > cfg.recipients_per_message) {
            over = Exceeded{"recipients_per_message", identities.empty() ? "" : identities.front(),
                            cfg.recipients_per_message};
        }
    }
    for (const auto& id : identities) {
        if (cfg.recipients_per_hour > 0) {
            auto n = state_.increment("rl:r:" + id, kHour);
            if (!n) return n.error();
            if (*n > cfg.recipients_per_hour && !over) {
                over = Exceeded{"recipients_per_hour", id, cfg.recipients_per_hour};
            }
        }
        if (cfg.messages_per_hour > 0 && !over) {
            auto v = state_.get("rl:m:" + id);
            if (!v) return v.error();
            long long sent = 0;
            if (*v) std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), sent);
            if (sent >= cfg.messages_per_hour) {
                over = Exceeded{"messages_per_hour", id, cfg.messages_per_hour};
            }
        }
    }
    return over;
}

Result<std::optional<Exceeded>> RateLimiter::message(const std::vector<std::string>& identities,
                                                     const UserLimits& own) {
    const RateLimitConfig cfg = effective(own);
    std::optional<Exceeded> over;
    if (cfg.messages_per_hour <= 0) return over;
    for (const auto& id : identities) {
        auto n = state_.increment("rl:m:" + id, kHour);
        if (!n) return n.error();
        if (*n > cfg.messages_per_hour && !over) {
            over = Exceeded{"messages_per_hour", id, cfg.messages_per_hour};
        }
    }
    return over;
}

}  // namespace pampero::policy
