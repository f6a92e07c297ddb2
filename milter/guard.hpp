// guard.hpp - the dictionary-attack guard: counts unknown recipients per client IP and
// bans an IP that keeps guessing.
//
// Keys live in the shared State, so with Redis every MX node sees the same counters and
// bans: "unk:IP" counts within `window` seconds from the first miss; at `unknown_limit`
// the IP gets "ban:IP" for `ban` seconds. Errors are the State's (temporary).
#pragma once

#include <string>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero::milter {

class Guard {
public:
    Guard(State& state, GuardConfig config) : state_(state), config_(config) {}

    Result<bool> is_banned(const std::string& ip);
    // Counts one unknown recipient; true when this one crossed the limit (IP now banned).
    Result<bool> count_unknown(const std::string& ip);

private:
    State& state_;
    GuardConfig config_;
};

}  // namespace pampero::milter
