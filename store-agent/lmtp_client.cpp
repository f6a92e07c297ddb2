#include "lmtp_client.hpp"

#include <fmt/format.h>

#include <optional>

#include "conn.hpp"

namespace pampero::store {
namespace {

struct Failure {
    lmtp::Reply reply;
};

// Reads one (possibly multi-line) reply; the text of the last line, the lines collected.
std::optional<lmtp::Reply> read_reply(Conn& c, std::chrono::seconds timeout,
                                      std::vector<std::string>* lines, lmtp::Reply& failure) {
    std::string line;
    for (int n = 0; n < 100; ++n) {
        const auto st = c.read_line(line, 4096, timeout);
        if (st == Conn::Status::timeout) {
            failure = {451, "4.4.2", "timeout talking to the storage node"};
            return std::nullopt;
        }
        if (st != Conn::Status::ok) {
            failure = {451, "4.4.2", "storage node closed the connection"};
            return std::nullopt;
        }
        const auto r = lmtp::parse_reply_line(line);
        if (!r) {
            failure = {451, "4.5.0", "storage node sent a malformed reply"};
            return std::nullopt;
        }
        if (lines) lines->push_back(r->reply.text);
        if (!r->more) return r->reply;
    }
    failure = {451, "4.5.0", "storage node sent too long a reply"};
    return std::nullopt;
}

}  // namespace

std::vector<lmtp::Reply> forward_lmtp(const Endpoint& to, const std::string& node_name,
                                      const std::string& my_name, const std::string& sender,
                                      const std::vector<std::string>& recipients,
                                      std::string_view message, const ForwardTimeouts& t) {
    auto all = [&](lmtp::Reply r) {
        r.text = fmt::format("{} (node {})", r.text, node_name);
        return std::vector<lmtp::Reply>(recipients.size(), r);
    };
    auto fd = connect_to(to, t.connect);
    if (!fd) return all({451, "4.4.1", "storage node unreachable"});
    Conn c(*fd);
    lmtp::Reply failure;
    auto greeting = read_reply(c, t.command, nullptr, failure);
    if (!greeting) return all(failure);
    if (greeting->code != 220) return all({451, "4.4.1", "storage node refused the connection"});

    std::vector<std::string> ext;
    if (!c.send(fmt::format("LHLO {}\r\n", my_name)))
        return all({451, "4.4.2", "write to storage node failed"});
    auto lhlo = read_reply(c, t.command, &ext, failure);
    if (!lhlo) return all(failure);
    bool local_only = false;
    for (const auto& e : ext) {
        if (e == lmtp::kLocalOnlyParam) local_only = true;
    }
    if (lhlo->code != 250 || !local_only) {
        return all({451, "4.3.5", "storage node is not a pampero-store"});
    }
    if (!c.send(fmt::format("MAIL FROM:<{}>\r\n", sender))) {
        return all({451, "4.4.2", "write to storage node failed"});
    }
    auto mail = read_reply(c, t.command, nullptr, failure);
    if (!mail) return all(failure);
    if (!mail->positive()) return all(*mail);

    std::vector<lmtp::Reply> out(recipients.size());
    std::vector<std::size_t> accepted;
    for (std::size_t i = 0; i < recipients.size(); ++i) {
        if (!c.send(fmt::format("RCPT TO:<{}> {}\r\n", recipients[i], lmtp::kLocalOnlyParam))) {
            return all({451, "4.4.2", "write to storage node failed"});
        }
        auto r = read_reply(c, t.command, nullptr, failure);
        if (!r) return all(failure);
        out[i] = *r;
        if (r->positive()) accepted.push_back(i);
    }
    if (accepted.empty()) {
        c.send("QUIT\r\n");
        return out;
    }
    if (!c.send("DATA\r\n")) return all({451, "4.4.2", "write to storage node failed"});
    auto data = read_reply(c, t.command, nullptr, failure);
    if (!data) return all(failure);
    if (data->code != 354) {
        for (auto i : accepted) out[i] = *data;
        return out;
    }
    if (!c.send(lmtp::encode_data(message)))
        return all({451, "4.4.2", "write to storage node failed"});
    for (auto i : accepted) {
        auto r = read_reply(c, t.data, nullptr, failure);
        if (!r) {
            // Some recipients may have been delivered already; the rest are unknown: a
            // retry may duplicate, but nothing is acknowledged that was not.
            for (auto j : accepted) {
                if (j >= i) out[j] = failure;
            }
            return out;
        }
        out[i] = *r;
    }
    c.send("QUIT\r\n");
    return out;
}

}  // namespace pampero::store
