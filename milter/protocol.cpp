#include "protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

namespace pampero::milter::proto {
namespace {

std::uint32_t get32(std::string_view s) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) << 24 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[3]));
}

void put32(std::string& out, std::uint32_t v) {
    out += static_cast<char>(v >> 24 & 0xff);
    out += static_cast<char>(v >> 16 & 0xff);
    out += static_cast<char>(v >> 8 & 0xff);
    out += static_cast<char>(v & 0xff);
}

Error bad(char command, const char* why) {
    return Error::permanent(
        fmt::format("milter command '{}': {}",
                    command >= 0x20 && command < 0x7f
                        ? std::string(1, command)
                        : fmt::format("\\x{:02x}", static_cast<unsigned char>(command)),
                    why));
}

// NUL-terminated strings back to back. Every string must end with its NUL: data that does
// not end with one is truncated. Bound: at most `max` strings.
Result<std::vector<std::string_view>> strings(char command, std::string_view data,
                                              std::size_t max) {
    std::vector<std::string_view> out;
    if (data.empty()) return out;
    if (data.back() != '\0') return bad(command, "string without its NUL terminator");
    // One allocation, not one per doubling (a macro packet carries a dozen strings).
    out.reserve(std::min<std::size_t>(std::count(data.begin(), data.end(), '\0'), max));
    while (!data.empty()) {
        if (out.size() == max) return bad(command, "too many strings");
        const auto nul = data.find('\0');
        out.push_back(data.substr(0, nul));
        data.remove_prefix(nul + 1);
    }
    return out;
}

// One NUL-terminated string at the front of `data`, which then starts after it.
bool take_string(std::string_view& data, std::string_view& s) {
    const auto nul = data.find('\0');
    if (nul == std::string_view::npos) return false;
    s = data.substr(0, nul);
    data.remove_prefix(nul + 1);
    return true;
}

bool has_nul(std::string_view s) {
    return s.find('\0') != std::string_view::npos;
}

constexpr std::string_view kNul("\0", 1);

// One packet: the command and its data parts back to back.
bool append_packet(std::string& out, char command,
                   std::initializer_list<std::string_view> parts = {}) {
    std::size_t length = 1;
    for (auto p : parts) length += p.size();
    if (length > kMaxPacketLength) return false;  // the MTA would refuse it too
    put32(out, static_cast<std::uint32_t>(length));
    out += command;
    for (auto p : parts) out.append(p);
    return true;
}

}  // namespace

Framing next_packet(std::string_view buf, std::size_t max_length) {
    Framing f;
    if (buf.size() < 4) return f;
    const std::uint32_t length = get32(buf);
    // The length counts the command octet, so 0 is no packet at all; above the bound the
    // peer is broken or hostile, and we will not buffer that much to find out.
    if (length == 0) {
        f.status = Framing::Status::error;
        f.error = "packet length 0";
        return f;
    }
    if (length > max_length) {
        f.status = Framing::Status::error;
        f.error = "packet length above the bound";
        return f;
    }
    if (buf.size() - 4 < length) {
        f.needed = 4 + std::size_t{length};
        return f;
    }
    f.status = Framing::Status::ok;
    f.packet.command = buf[4];
    f.packet.data = buf.substr(5, length - 1);
    f.consumed = 4 + std::size_t{length};
    return f;
}

Result<Command> decode(const Packet& p) {
    std::string_view d = p.data;
    switch (p.command) {
        case 'O': {
            // version, actions, protocol; libmilter ignores anything after them.
            if (d.size() < 12) return bad(p.command, "option negotiation shorter than 12 octets");
            return Command{OptionNegotiation{get32(d), get32(d.substr(4)), get32(d.substr(8))}};
        }
        case 'D': {
            if (d.empty()) return bad(p.command, "macro packet without a stage");
            Macros m;
            m.stage = d[0];
            auto s = strings(p.command, d.substr(1), 2 * kMaxMacros);
            if (!s) return s.error();
            if (s->size() % 2 != 0) return bad(p.command, "macro name without a value");
            m.pairs.reserve(s->size() / 2);
            for (std::size_t i = 0; i < s->size(); i += 2)
                m.pairs.emplace_back((*s)[i], (*s)[i + 1]);
            return Command{std::move(m)};
        }
        case 'C': {
            Connect c;
            if (!take_string(d, c.hostname))
                return bad(p.command, "hostname without its NUL terminator");
            if (d.empty()) return bad(p.command, "no address family");
            c.family = d[0];
            d.remove_prefix(1);
            if (c.family == 'U') return Command{c};  // unknown: no port, no address follow
            if (c.family != '4' && c.family != '6' && c.family != 'L') {
                return bad(p.command, "unknown address family");
            }
            if (d.size() < 2) return bad(p.command, "truncated port");
            c.port = static_cast<std::uint16_t>(static_cast<unsigned char>(d[0]) << 8 |
                                                static_cast<unsigned char>(d[1]));
            d.remove_prefix(2);
            if (!take_string(d, c.address))
                return bad(p.command, "address without its NUL terminator");
            return Command{c};
        }
        case 'H': {
            Helo h;
            if (!take_string(d, h.hostname))
                return bad(p.command, "hostname without its NUL terminator");
            return Command{h};
        }
        case 'M':
        case 'R': {
            auto s = strings(p.command, d, kMaxArgs + 1);
            if (!s) return s.error();
            if (s->empty()) return bad(p.command, "no address");
            if (p.command == 'M') return Command{Mail{std::move(s).value()}};
            return Command{Rcpt{std::move(s).value()}};
        }
        case 'L': {
            // The usual case without a vector (a message has a header packet per field):
            // exactly two NUL-terminated strings. Anything else goes the general way below,
            // which says what is wrong.
            std::string_view name, value, rest = d;
            if (!d.empty() && d.back() == '\0' && take_string(rest, name) &&
                take_string(rest, value) && rest.empty()) {
                return Command{Header{name, value}};
            }
            auto s = strings(p.command, d, 3);
            if (!s) return s.error();
            if (s->size() != 2) return bad(p.command, "header is not exactly a name and a value");
            return Command{Header{(*s)[0], (*s)[1]}};
        }
        case 'U': {
            Unknown u;
            if (!take_string(d, u.command))
                return bad(p.command, "command without its NUL terminator");
            return Command{u};
        }
        case 'T':
            return Command{Data{}};
        case 'N':
            return Command{EndOfHeaders{}};
        case 'B':
            return Command{Body{d}};
        case 'E':
            return Command{EndOfMessage{d}};
        case 'A':
            return Command{Abort{}};
        case 'Q':
            return Command{Quit{}};
        case 'K':
            return Command{QuitNewConnection{}};
        default:
            return bad(p.command, "unknown command");
    }
}

bool encode_simple(std::string& out, char reply) {
    return append_packet(out, reply);
}

bool encode_reply_code(std::string& out, std::string_view reply) {
    return !has_nul(reply) && append_packet(out, 'y', {reply, kNul});
}

bool encode_delete_rcpt(std::string& out, std::string_view rcpt) {
    return !has_nul(rcpt) && append_packet(out, '-', {rcpt, kNul});
}

bool encode_add_header(std::string& out, std::string_view name, std::string_view value) {
    return !has_nul(name) && !has_nul(value) && append_packet(out, 'h', {name, kNul, value, kNul});
}

bool encode_change_header(std::string& out, std::uint32_t index, std::string_view name,
                          std::string_view value) {
    std::string position;
    put32(position, index);
    return !has_nul(name) && !has_nul(value) &&
           append_packet(out, 'm', {position, name, kNul, value, kNul});
}

void encode_negotiation(std::string& out, const OptionNegotiation& ours) {
    std::string words;
    put32(words, ours.version);
    put32(words, ours.actions);
    put32(words, ours.protocol);
    (void)append_packet(out, 'O', {words});  // 13 octets: always fits
}

}  // namespace pampero::milter::proto
