#include "pampero/policy/guard.hpp"

#include <atomic>
#include <charconv>

#include "pampero/common/ip_prefix.hpp"
#include "pampero/common/log.hpp"

namespace pampero::policy {
namespace {

// The expiring set of banned networks (see guard.hpp).
const std::string kBanSet = "bans";

}  // namespace

std::string Guard::client_key(const std::string& ip) const {
    return client_prefix(ip, config_.ipv4_prefix, config_.ipv6_prefix);
}

void warn_state_error_continued(std::string_view what, const Error& e) {
    static std::atomic<std::int64_t> last_second{0};
    static std::atomic<std::uint64_t> since{0};
    since.fetch_add(1);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t last = last_second.load();
    if (now == last || !last_second.compare_exchange_strong(last, now)) return;
    log::warning(
        "state failing ({}): {} went on without it (on_state_error: continue; {} call(s) "
        "since the last such warning)",
        e.message, what, since.exchange(0));
}

Result<bool> Guard::is_banned(const std::string& ip) {
    auto v = state_.get("ban:" + client_key(ip));
    if (!v) {
        if (!config_.continue_on_state_error) return v.error();
        warn_state_error_continued("the ban check (guard off)", v.error());
        return false;
    }
    return v->has_value();
}

Result<bool> Guard::count_unknown(const std::string& ip, const std::string& address) {
    const std::string key = client_key(ip);
    const std::chrono::seconds window(config_.window);
    // One count per (network, address) and window, whichever daemon sees it first
    // (guard.hpp). The address is at most kMaxAddressLength octets (parse_address).
    auto first = state_.put_if_absent("unkrcpt:" + key + ":" + address, "1", window);
    if (!first) {
        if (!config_.continue_on_state_error) return first.error();
        warn_state_error_continued("the unknown-recipient count (guard off)", first.error());
        return false;
    }
    if (!*first) return false;
    auto n = state_.increment("unk:" + key, window);
    if (!n) {
        if (!config_.continue_on_state_error) return n.error();
        warn_state_error_continued("the unknown-recipient count (guard off)", n.error());
        return false;
    }
    if (*n < config_.unknown_limit) return false;
    if (auto st = state_.put("ban:" + key, std::to_string(*n), std::chrono::seconds(config_.ban));
        !st) {
        if (!config_.continue_on_state_error) return st.error();
        warn_state_error_continued("the ban (guard off)", st.error());
        return false;
    }
    // The listing's record: without it the ban still holds, only `ban list` misses it, so
    // a State that cannot keep it is logged rather than failing the recipient.
    if (auto st = state_.set_add(kBanSet, key, std::chrono::seconds(config_.ban)); !st)
        log::warning("guard: ban of {} not recorded for listing: {}", key, st.error().message);
    return true;
}

Result<std::vector<Guard::Ban>> Guard::bans(std::size_t max) {
    auto members = state_.set_members(kBanSet);
    if (!members) return members.error();
    std::vector<Ban> out;
    for (const auto& net : *members) {
        if (out.size() >= max) break;
        auto v = state_.get("ban:" + net);
        if (!v) return v.error();
        if (!v->has_value()) continue;  // lifted or expired before its set entry
        auto left = state_.ttl("ban:" + net);
        if (!left) return left.error();
        Ban b{net, 0, left->value_or(std::chrono::seconds(0))};
        std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), b.unknown);
        out.push_back(std::move(b));
    }
    return out;
}

Result<bool> Guard::unban(const std::string& ip) {
    const std::string key = client_key(ip);
    auto was = state_.get("ban:" + key);
    if (!was) return was.error();
    if (auto st = state_.remove("ban:" + key); !st) return st.error();
    if (auto st = state_.remove("unk:" + key); !st) return st.error();
    if (auto st = state_.set_remove(kBanSet, key); !st) return st.error();
    return was->has_value();
}

}  // namespace pampero::policy
