#include "store.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "lmtp_client.hpp"
#include "pampero/common/address.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/recipient_facts.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/verdict/decision.hpp"
#include "pampero/verdict/spam_headers.hpp"
#include "quota.hpp"

namespace pampero::store {
namespace {

// The one reply for a directory the store cannot read, whatever the call: 451 4.3.0 so
// the MTA retries (never a 5xx, result.hpp), logged with `where` (who was being looked up).
lmtp::Reply directory_unavailable(const std::string& where, const Error& e) {
    log::warning("{}: directory: {}", where, e.message);
    return lmtp::Reply{451, "4.3.0", "Directory temporarily unavailable"};
}

// The unfolded value of the first header `name` in the header section, if any.
std::optional<std::string> find_header(std::string_view msg, std::string_view name) {
    std::size_t pos = 0;
    std::optional<std::string> value;
    bool in_match = false;
    while (pos < msg.size()) {
        const auto nl = msg.find('\n', pos);
        std::string_view line =
            msg.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? msg.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;  // end of the header section
        if (line.front() == ' ' || line.front() == '\t') {
            if (in_match) *value += std::string(line);
            continue;
        }
        if (in_match) return value;
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
            std::string_view v = line.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            value = std::string(v);
            in_match = true;
        }
    }
    return value;
}

long steady_seconds() {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

// The other node's "this mailbox is not here any more" (lmtp_codec.hpp, kMovedEnhanced).
bool moved(const lmtp::Reply& r) {
    return r.temporary() && r.enhanced == lmtp::kMovedEnhanced;
}

bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

}  // namespace

const Endpoint* Snapshot::node(const std::string& name) const {
    const auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : &it->second;
}

Result<std::shared_ptr<const Snapshot>> load_snapshot(const std::string& config_path) {
    auto cfg = load_config(config_path);
    if (!cfg) return cfg.error();
    auto levels = scan::load_levels(cfg->levels);
    if (!levels) return levels.error();
    auto s = std::make_shared<Snapshot>();
    s->config = std::move(cfg).value();
    s->levels = std::move(levels).value();
    auto where = [&](const Error& e) {
        return Error::config(fmt::format("{}: store: {}", config_path, e.message));
    };
    auto lmtp = parse_endpoint(s->config.store.lmtp);
    if (!lmtp) return where(lmtp.error());
    s->lmtp = *lmtp;
    auto sm = parse_endpoint(s->config.store.socketmap);
    if (!sm) return where(sm.error());
    s->socketmap = *sm;
    for (const auto& [name, spec] : s->config.store.nodes) {
        auto e = parse_endpoint(spec);
        if (!e) return where(Error::config(fmt::format("nodes.{}: {}", name, e.error().message)));
        s->nodes[name] = *e;
    }
    if (!s->nodes.count(s->config.store.node)) s->nodes[s->config.store.node] = s->lmtp;
    if (s->config.store.mail_root.empty() || s->config.store.mail_root.front() != '/') {
        return where(Error::config("mail_root must be an absolute path"));
    }
    if (!s->config.verdict_keys.empty()) {
        auto keys = scan::VerdictKeys::load(s->config.verdict_keys);
        if (!keys) return Error::config(fmt::format("{}: {}", config_path, keys.error().message));
        s->verdict_keys = *keys;
    }
    return std::shared_ptr<const Snapshot>(std::move(s));
}

// The highest well-formed X-Spam-Score in the header section. pampero-milter deletes
// every incoming X-Spam-* and adds one, so there is one; should a forged one ever get
// past it (the milter bypassed, a header it never saw), taking the highest means a
// forgery can only file a message more strictly, never lift it into the Inbox.
std::optional<double> message_spam_score(std::string_view message) {
    std::optional<double> best;
    bool reading = false;  // in an X-Spam-Score, whose value (folded lines added) is:
    std::string value;
    auto take = [&] {
        if (!reading) return;
        reading = false;
        if (const auto v = scan::parse_spam_score(value); v && (!best || *v > *best)) best = v;
    };
    std::size_t pos = 0;
    while (pos < message.size()) {
        const auto nl = message.find('\n', pos);
        std::string_view line =
            message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? message.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;  // end of the header section
        if (line.front() == ' ' || line.front() == '\t') {
            if (reading) value += line;
            continue;
        }
        take();
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), "X-Spam-Score")) {
            reading = true;
            value = line.substr(colon + 1);
        }
    }
    take();
    return best;
}

std::string message_queue_id(std::string_view message) {
    const auto v = find_header(message, "Received");
    if (!v) return "";
    const auto at = v->find(" id ");
    if (at == std::string::npos) return "";
    std::string id;
    for (std::size_t i = at + 4; i < v->size() && id.size() < 32; ++i) {
        const char c = (*v)[i];
        if (!std::isalnum(static_cast<unsigned char>(c))) break;
        id.push_back(c);
    }
    return id;
}

lmtp::Reply Store::over_quota_reply(const Snapshot& s) const {
    if (s.config.store.over_quota_tempfail) return {452, "4.2.2", "Mailbox full"};
    return {552, "5.2.2", "Mailbox full"};
}

std::variant<Recipient, lmtp::Reply> Store::accept_recipient(const std::string& path,
                                                             bool local_only,
                                                             std::optional<std::uint64_t> size_hint,
                                                             const std::string& log_id) {
    auto r = check_recipient(path, local_only, size_hint, log_id.empty() ? "-" : log_id);
    if (const auto* rep = std::get_if<lmtp::Reply>(&r); rep && metrics_) {
        if (rep->enhanced == "5.1.1") metrics_->recipients_refused.get({"unknown"}).inc();
        if (rep->enhanced == "5.1.3") metrics_->recipients_refused.get({"bad_address"}).inc();
        if (rep->enhanced == "5.2.2" || rep->enhanced == "4.2.2")
            metrics_->recipients_refused.get({"over_quota"}).inc();
        if (rep->enhanced == "4.3.0") metrics_->tempfails.get({"directory"}).inc();
        if (rep->enhanced == "4.3.1") metrics_->tempfails.get({"storage"}).inc();
        if (rep->enhanced == "4.3.5") metrics_->tempfails.get({"node"}).inc();
    }
    return r;
}

std::variant<Recipient, lmtp::Reply> Store::check_recipient(const std::string& path,
                                                            bool local_only,
                                                            std::optional<std::uint64_t> size_hint,
                                                            const std::string& log_id) {
    const auto s = snap_.get();
    const auto a = parse_address(path);
    if (!a) return lmtp::Reply{501, "5.1.3", "Bad recipient address syntax"};
    Recipient r;
    r.address = a->full();
    const auto unavailable = [&](const Error& e) {
        return directory_unavailable(fmt::format("{}: <{}>", log_id, r.address), e);
    };
    auto local = dir_.is_local_domain(a->domain);
    if (!local) return unavailable(local.error());
    if (!*local)
        return lmtp::Reply{550, "5.1.1", fmt::format("<{}>: domain not handled here", r.address)};

    std::vector<User> users;
    auto user = dir_.find_user(r.address);
    if (!user) return unavailable(user.error());
    if (user->has_value()) {
        users.push_back(**user);
    } else {
        // Postfix expands aliases before LMTP; a client that does not still reaches the
        // targets that are local users (one level, bounded by the directory's list).
        auto targets = dir_.find_alias(r.address);
        if (!targets) return unavailable(targets.error());
        for (const auto& t : *targets) {
            auto tu = dir_.find_user(t);
            if (!tu) return unavailable(tu.error());
            if (tu->has_value()) users.push_back(**tu);
        }
    }
    if (users.empty())
        return lmtp::Reply{550, "5.1.1", fmt::format("<{}>: user unknown", r.address)};
    r.owner = users.front().address;
    r.level = users.front().level;

    for (const auto& u : users) {
        std::vector<MailboxLocation> locations{{u.node, u.maildir}};
        if (u.migration) locations.push_back(*u.migration);
        for (const auto& loc : locations) {
            Target t{u.address, loc.node, "", u.quota.value_or(s->config.store.default_quota)};
            if (loc.node != s->config.store.node) {
                if (local_only) continue;
                if (!s->node(loc.node)) {
                    log::error("{}: <{}>: storage node '{}' is not in store.nodes", log_id,
                               u.address, loc.node);
                    return lmtp::Reply{451, "4.3.5",
                                       fmt::format("storage node {} unknown here", loc.node)};
                }
                r.remote.push_back(std::move(t));
                continue;
            }
            auto root = resolve_maildir(s->config.store.mail_root, loc.maildir);
            if (!root) {
                log::error("{}: <{}>: refused: {}", log_id, u.address, root.error().message);
                return lmtp::Reply{451, "4.3.5", "Mailbox location is unsafe; see the store's log"};
            }
            t.root = *root;
            if (t.quota > 0) {
                // A maildir not made yet is empty.
                auto usage = exists(t.root) ? quota_usage(t.root, t.quota)
                                            : Result<QuotaUsage>(QuotaUsage{});
                if (!usage) {
                    log::error("{}: <{}>: quota: {}", log_id, u.address, usage.error().message);
                    return lmtp::Reply{452, "4.3.1", "Insufficient system storage"};
                }
                if (over_quota(*usage, std::max<std::uint64_t>(size_hint.value_or(0), 1),
                               t.quota)) {
                    return over_quota_reply(*s);
                }
            }
            r.local.push_back(std::move(t));
        }
    }
    if (r.local.empty() && r.remote.empty()) {
        // Only with XPAMPERO-LOCAL: another node forwarded a copy here from an older view of
        // the directory. 4.1.6 tells it this location is gone (store.hpp, "Moves").
        return lmtp::Reply{451, std::string(lmtp::kMovedEnhanced),
                           fmt::format("<{}>: mailbox has moved, not on this node", r.address)};
    }
    return r;
}

void Store::maybe_clean_tmp(const std::string& folder_dir) {
    const long now = steady_seconds();
    {
        std::lock_guard lock(clean_mu_);
        auto it = cleaned_.find(folder_dir);
        if (it != cleaned_.end() && now - it->second < 3600) return;
        if (cleaned_.size() > 100000) cleaned_.clear();
        cleaned_[folder_dir] = now;
    }
    if (const int n = remove_stale_tmp(folder_dir); n > 0) {
        log::info("{}: removed {} stale file(s) from tmp/", folder_dir, n);
    }
}

lmtp::Reply Store::deliver_local(const Snapshot& s, const Envelope& env, const Recipient& r,
                                 const Target& t, const std::string& folder,
                                 std::string_view message, const std::string& qid) {
    const std::string prefix =
        fmt::format("Return-Path: <{}>\nDelivered-To: {}\n", env.sender, r.address);
    const std::uint64_t size = prefix.size() + message.size();
    const char* shelf = folder.empty() ? "inbox" : "spam";
    const auto count = [&](const char* result) {
        if (metrics_) metrics_->deliveries.get({shelf, result}).inc();
    };
    const auto storage = [&](const Error& e) {
        log::error("{}: to=<{}> user=<{}>: {}", qid, r.address, t.user, e.message);
        count("tempfail");
        count_tempfail("storage");
        return lmtp::Reply{452, "4.3.1", "Insufficient system storage"};
    };
    if (t.quota > 0) {
        auto usage =
            exists(t.root) ? quota_usage(t.root, t.quota) : Result<QuotaUsage>(QuotaUsage{});
        if (!usage) return storage(usage.error());
        if (over_quota(*usage, size, t.quota)) {
            log::info("{}: to=<{}> user=<{}>: over quota ({} + {} > {})", qid, r.address, t.user,
                      usage->bytes, size, t.quota);
            count("over_quota");
            return over_quota_reply(s);
        }
    }
    // Walked from mail_root without following links: a planted link is a 452, never a
    // write outside mail_root (maildir.hpp, Confinement).
    auto opened = open_folder(s.config.store.mail_root, t.root, folder);
    if (!opened) return storage(opened.error());
    const std::string dir = folder_path(t.root, folder);
    auto done = deliver_file(*opened, dir, {prefix, message}, sync_);
    if (!done) return storage(done.error());
    if (metrics_) metrics_->fsync_seconds.observe(done->fsync_time);
    // maildirsize is kept for every user (Dovecot's quota reads it): the first delivery
    // builds it from the folders, later ones append a line.
    auto counted = exists(t.root + "/maildirsize")
                       ? quota_add(t.root, static_cast<std::int64_t>(size), 1)
                       : [&]() -> Status {
        auto u = recalculate_quota(t.root, t.quota);
        if (!u) return u.error();
        return ok_status();
    }();
    if (!counted) log::warning("{}: user=<{}>: quota: {}", qid, t.user, counted.error().message);
    maybe_clean_tmp(dir);
    const std::string shown = folder.empty() ? "INBOX" : folder;
    log::info("{}: to=<{}> user=<{}> folder={} size={} delivered {}", qid, r.address, t.user, shown,
              size, done->path);
    count("delivered");
    return {250, "2.0.0", fmt::format("<{}> delivered to {}", r.address, shown)};
}

std::vector<lmtp::Reply> Store::deliver(const Envelope& env, std::string_view message,
                                        const std::vector<Recipient>& recipients) {
    const auto s = snap_.get();
    std::string qid = env.queue_id;
    if (qid.empty()) qid = message_queue_id(message);
    if (qid.empty()) qid = env.session_id;
    // Only a verdict signed by pampero-milter files the message by its score.
    const scan::VerdictCheck verdict = scan::verify_message_verdict(
        s->verdict_keys.get(), message, static_cast<std::int64_t>(std::time(nullptr)),
        s->config.store.verdict_max_age);
    const bool trusted = verdict.outcome == scan::VerdictCheck::Outcome::valid;
    const double score = trusted ? *verdict.score : 0.0;
    const bool is_unsigned = verdict.outcome == scan::VerdictCheck::Outcome::unsigned_verdict;
    const UnverifiedRule rule =
        is_unsigned ? s->config.store.unsigned_rule : s->config.store.bad_signature_rule;
    const bool any_local = std::any_of(recipients.begin(), recipients.end(),
                                       [](const Recipient& r) { return !r.local.empty(); });
    if (any_local && metrics_) {
        metrics_->verdicts.get({trusted ? "valid" : is_unsigned ? "unsigned" : "invalid"}).inc();
    }
    if (trusted && any_local) {
        log::info("{}: verdict signed (key {}), score {:.1f}", qid, verdict.key_id, score);
    } else if (any_local) {
        log::notice("{}: verdict {}: {}; store.{}: {}", qid, scan::to_string(verdict.outcome),
                    verdict.reason, is_unsigned ? "unsigned" : "bad_signature", to_string(rule));
    }
    const auto sender = parse_address(env.sender);
    const std::string sender_key = sender ? sender->full() : "";

    std::vector<std::vector<lmtp::Reply>> per(recipients.size());
    // Remote copies, grouped by node: node -> (recipient index, user address)
    std::map<std::string, std::vector<std::pair<std::size_t, std::string>>> remote;

    for (std::size_t i = 0; i < recipients.size(); ++i) {
        const Recipient& r = recipients[i];
        for (const auto& t : r.remote) remote[t.node].emplace_back(i, t.user);
        if (r.local.empty()) continue;
        auto facts = lookup_recipient_facts(dir_, r.owner, sender_key);
        if (!facts) {
            per[i].push_back(
                directory_unavailable(fmt::format("{}: to=<{}>", qid, r.address), facts.error()));
            count_tempfail("directory");
            continue;
        }
        auto action =
            scan::decide(score, facts->listing, facts->contact, s->levels.for_user(r.level));
        const bool listed_white = facts->listing == Listing::white || facts->contact;
        if (!trusted && !listed_white && rule == UnverifiedRule::tempfail) {
            per[i].push_back({451, "4.7.0", "Spam verdict not verified, try again later"});
            count_tempfail("verdict");
            continue;
        }
        if (!trusted && !listed_white && rule == UnverifiedRule::spam) action = scan::Action::spam;
        const std::string folder = action == scan::Action::inbox ? "" : s->config.store.spam_folder;
        if (action == scan::Action::reject) {
            log::notice("{}: to=<{}>: score {:.1f} or listing says reject; filed into {}", qid,
                        r.address, score, folder);
        }
        for (const auto& t : r.local)
            per[i].push_back(deliver_local(*s, env, r, t, folder, message, qid));
    }

    for (const auto& [node, list] : remote) {
        std::vector<std::string> addrs;
        for (const auto& [i, user] : list) addrs.push_back(user);
        const Endpoint* ep = s->node(node);
        std::vector<lmtp::Reply> replies =
            ep ? forward_lmtp(*ep, node, s->config.store.node, env.sender, addrs, message)
               : std::vector<lmtp::Reply>(addrs.size(),
                                          {451, "4.3.5", "storage node unknown here"});
        for (std::size_t k = 0; k < list.size(); ++k) {
            log::info("{}: to=<{}> forwarded to node {}: {} {} {}", qid, addrs[k], node,
                      replies[k].code, replies[k].enhanced, replies[k].text);
            if (metrics_) {
                const lmtp::Reply& rep = replies[k];
                const char* result = rep.positive()    ? "delivered"
                                     : moved(rep)      ? "moved"
                                     : rep.temporary() ? "tempfail"
                                                       : "rejected";
                metrics_->deliveries.get({"forwarded", result}).inc();
                if (rep.temporary() && !moved(rep)) count_tempfail("node");
            }
            per[list[k].first].push_back(replies[k]);
        }
    }

    std::vector<lmtp::Reply> out;
    out.reserve(recipients.size());
    for (auto& replies : per) {
        // A location that answered "moved" is no location of the recipient any more: it
        // counts only when no other location took the message (store.hpp, "Moves"). This
        // is safe within conf/FARM.md's procedure (one step per directory_cache_ttl): a
        // view one step old that holds the old node and a node that took the copy holds
        // the new one; were it a move that has only begun, its step 3 copies what the new
        // Maildir lacks. Without it, the 451 made the MTA retry and the copy taken here
        // was delivered again at every retry until this node's cache let go.
        if (std::any_of(replies.begin(), replies.end(), [](const auto& r) { return moved(r); }) &&
            std::any_of(replies.begin(), replies.end(),
                        [](const auto& r) { return r.positive(); })) {
            std::erase_if(replies, [](const auto& r) { return moved(r); });
        }
        const auto temp = std::find_if(replies.begin(), replies.end(),
                                       [](const auto& r) { return r.temporary(); });
        const auto good = std::find_if(replies.begin(), replies.end(),
                                       [](const auto& r) { return r.positive(); });
        if (temp != replies.end())
            out.push_back(*temp);
        else if (good != replies.end())
            out.push_back(*good);
        else if (!replies.empty())
            out.push_back(replies.front());
        else
            out.push_back({451, "4.3.0", "nothing to deliver to"});
    }
    return out;
}

}  // namespace pampero::store
