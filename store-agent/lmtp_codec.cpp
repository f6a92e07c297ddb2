#include "lmtp_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace pampero::store::lmtp {
namespace {

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) { return upper(c); });
    return out;
}

bool iprefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (upper(s[i]) != upper(prefix[i])) return false;
    }
    return true;
}

bool is_ctl(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

Parsed fail(int code, const char* enhanced, std::string text) {
    Parsed p;
    p.error = Reply{code, enhanced, std::move(text)};
    return p;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

const std::pair<std::string_view, Verb> kVerbs[] = {
    {"LHLO", Verb::lhlo}, {"HELO", Verb::helo}, {"EHLO", Verb::ehlo},         {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt}, {"DATA", Verb::data}, {"RSET", Verb::rset},         {"NOOP", Verb::noop},
    {"QUIT", Verb::quit}, {"VRFY", Verb::vrfy}, {"XFORWARD", Verb::xforward},
};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // RFC 3461 xtext: upper-case hex only
}

// XFORWARD NAME=value ...: values are xtext (RFC 3461, "+" and two hex digits).
Parsed parse_xforward(std::string_view rest, Command cmd) {
    const auto bad = [] { return fail(501, "5.5.4", "Syntax: XFORWARD attribute=value ..."); };
    if (rest.empty()) return bad();
    while (!rest.empty()) {
        const auto sp = rest.find_first_of(" \t");
        const std::string_view item = rest.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp));
        const auto eq = item.find('=');
        if (eq == 0 || eq == std::string_view::npos) return bad();
        if (cmd.params.size() == kMaxParams)
            return fail(501, "5.5.4", "Error: too many attributes");
        std::string value;
        const std::string_view x = item.substr(eq + 1);
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (x[i] != '+') {
                value += x[i];
                continue;
            }
            if (i + 2 >= x.size() || hex_digit(x[i + 1]) < 0 || hex_digit(x[i + 2]) < 0)
                return bad();
            value += static_cast<char>(hex_digit(x[i + 1]) * 16 + hex_digit(x[i + 2]));
            i += 2;
        }
        if (value.size() > kMaxXforwardValue)
            return fail(501, "5.5.4", "Error: attribute too long");
        cmd.params.emplace_back(upper(item.substr(0, eq)), std::move(value));
    }
    Parsed p;
    p.command = std::move(cmd);
    return p;
}

// Reads "<path>" at the start of `s`; sets `path` (source route dropped) and returns
// the rest, or nullopt when there is no well-formed path.
std::optional<std::string_view> read_path(std::string_view s, std::string& path) {
    if (s.empty() || s.front() != '<') return std::nullopt;
    bool quoted = false;
    std::size_t i = 1;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (quoted) {
            if (c == '\\' && i + 1 < s.size())
                ++i;
            else if (c == '"')
                quoted = false;
            continue;
        }
        if (c == '"')
            quoted = true;
        else if (c == '>')
            break;
        else if (c == ' ' || c == '<')
            return std::nullopt;
    }
    if (i >= s.size()) return std::nullopt;
    std::string_view inner = s.substr(1, i - 1);
    // RFC 5321 4.1.1.3: a source route "@a,@b:user@d" must be accepted and ignored.
    if (!inner.empty() && inner.front() == '@') {
        const auto colon = inner.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        inner.remove_prefix(colon + 1);
    }
    path.assign(inner);
    return s.substr(i + 1);
}

bool valid_keyword(std::string_view k) {
    if (k.empty() || !std::isalnum(static_cast<unsigned char>(k.front()))) return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
    });
}

// Splits "K=V K2" into params; false on bad syntax.
bool read_params(std::string_view s, Command& cmd) {
    s = trim(s);
    while (!s.empty()) {
        const auto sp = s.find_first_of(" \t");
        const std::string_view tok = s.substr(0, sp);
        s = sp == std::string_view::npos ? std::string_view{} : trim(s.substr(sp));
        const auto eq = tok.find('=');
        const std::string_view key = tok.substr(0, eq);
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = tok.substr(eq + 1);
            if (value.empty() || value.find('=') != std::string_view::npos) return false;
        }
        if (!valid_keyword(key)) return false;
        if (cmd.params.size() >= kMaxParams) return false;
        cmd.params.emplace_back(upper(key), std::string(value));
    }
    return true;
}

Parsed parse_mail(std::string_view rest, Command cmd) {
    if (!iprefix(rest, "FROM:")) return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    rest = trim(rest.substr(5));
    auto after = read_path(rest, cmd.path);
    if (!after) return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    if (cmd.path.size() > kMaxPath) return fail(501, "5.1.7", "Sender address too long");
    if (!after->empty() && after->front() != ' ' && after->front() != '\t') {
        return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    }
    if (!read_params(*after, cmd)) return fail(501, "5.5.4", "Bad MAIL parameter syntax");
    for (const auto& [k, v] : cmd.params) {
        if (k == "SIZE") {
            if (v.empty() || v.size() > 20 ||
                !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                return fail(501, "5.5.4", "Bad SIZE parameter");
            }
            std::uint64_t n = 0;
            const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            (void)p;
            cmd.size = ec == std::errc() ? n : std::numeric_limits<std::uint64_t>::max();
        } else if (k == "BODY") {
            const std::string b = upper(v);
            if (b != "7BIT" && b != "8BITMIME") return fail(501, "5.5.4", "Bad BODY parameter");
        } else {
            return fail(555, "5.5.4", fmt::format("Unsupported MAIL parameter {}", k));
        }
    }
    Parsed p;
    p.command = std::move(cmd);
    return p;
}

Parsed parse_rcpt(std::string_view rest, Command cmd) {
    if (!iprefix(rest, "TO:")) return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
    rest = trim(rest.substr(3));
    auto after = read_path(rest, cmd.path);
    if (!after) return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
    if (cmd.path.empty()) return fail(501, "5.1.3", "Bad recipient address syntax");
    if (cmd.path.size() > kMaxPath) return fail(501, "5.1.3", "Recipient address too long");
    if (!after->empty() && after->front() != ' ' && after->front() != '\t') {
        return fail(501, "5.5.4", "Syntax: RCPT TO:<address>");
    }
    if (!read_params(*after, cmd)) return fail(501, "5.5.4", "Bad RCPT parameter syntax");
    for (const auto& [k, v] : cmd.params) {
        if (k == kLocalOnlyParam && v.empty()) {
            cmd.local_only = true;
        } else {
            return fail(555, "5.5.4", fmt::format("Unsupported RCPT parameter {}", k));
        }
    }
    Parsed p;
    p.command = std::move(cmd);
    return p;
}

}  // namespace

std::string Reply::wire() const {
    if (enhanced.empty()) return fmt::format("{} {}\r\n", code, text);
    return fmt::format("{} {} {}\r\n", code, enhanced, text);
}

std::string wire_multiline(int code, const std::vector<std::string>& lines) {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out += fmt::format("{}{}{}\r\n", code, i + 1 < lines.size() ? '-' : ' ', lines[i]);
    }
    return out;
}

Parsed parse_command(std::string_view line) {
    if (line.size() + 2 > kMaxCommandLine)
        return fail(500, "5.5.2", "Error: command line too long");
    for (const char c : line) {
        if (is_ctl(static_cast<unsigned char>(c))) {
            return fail(500, "5.5.2", "Error: bad characters in command");
        }
    }
    line = trim(line);
    if (line.empty()) return fail(500, "5.5.2", "Error: bad syntax");
    const auto sp = line.find_first_of(" \t");
    const std::string_view verb = line.substr(0, sp);
    const std::string_view rest =
        sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp));

    Command cmd;
    for (const auto& [name, v] : kVerbs) {
        if (verb.size() == name.size() && iprefix(verb, name)) cmd.verb = v;
    }
    switch (cmd.verb) {
        case Verb::unknown:
            return fail(500, "5.5.2", "Error: command not recognized");
        case Verb::helo:
        case Verb::ehlo:
            return fail(500, "5.5.1", "Error: this is LMTP: say LHLO");
        case Verb::lhlo:
            if (rest.empty() || rest.find_first_of(" \t") != std::string_view::npos) {
                return fail(501, "5.5.4", "Syntax: LHLO hostname");
            }
            cmd.argument = std::string(rest);
            break;
        case Verb::mail:
            return parse_mail(rest, std::move(cmd));
        case Verb::rcpt:
            return parse_rcpt(rest, std::move(cmd));
        case Verb::data:
        case Verb::rset:
        case Verb::quit:
            if (!rest.empty()) {
                return fail(501, "5.5.4", fmt::format("Syntax: {} (no arguments)", upper(verb)));
            }
            break;
        case Verb::noop:
        case Verb::vrfy:
            cmd.argument = std::string(rest);
            break;
        case Verb::xforward:
            return parse_xforward(rest, std::move(cmd));
    }
    Parsed p;
    p.command = std::move(cmd);
    return p;
}

void DataDecoder::emit(char c) {
    ++octets_;
    if (overflow_) return;
    if (kept_ >= limit_) {
        overflow_ = true;
        out_.clear();
        out_.shrink_to_fit();
        return;
    }
    out_.push_back(c);
    ++kept_;
}

std::size_t DataDecoder::feed(std::string_view chunk) {
    std::size_t i = 0;
    while (i < chunk.size() && !done_) {
        const char c = chunk[i];
        switch (state_) {
            case State::line_start:
                if (c == '.') {
                    state_ = State::dot;
                    ++i;
                    continue;
                }
                state_ = State::in_line;
                continue;  // same byte, as part of a line
            case State::dot:
                if (c == '\r') {
                    state_ = State::dot_cr;
                    ++i;
                    continue;
                }
                if (c == '\n') {
                    done_ = true;
                    ++i;
                    continue;
                }
                state_ = State::in_line;  // a stuffed dot: dropped
                continue;
            case State::dot_cr:
                if (c == '\n') {
                    done_ = true;
                    ++i;
                    continue;
                }
                // ".\rX": the dot was stuffing, the CR is data.
                state_ = State::cr;
                continue;
            case State::in_line: {
                // Fast path: copy up to the next CR or LF in one go.
                const std::size_t stop = chunk.find_first_of("\r\n", i);
                const std::size_t end = stop == std::string_view::npos ? chunk.size() : stop;
                if (!overflow_ && kept_ + (end - i) <= limit_) {
                    out_.append(chunk.data() + i, end - i);
                    octets_ += end - i;
                    kept_ += end - i;
                } else {
                    for (std::size_t j = i; j < end; ++j) emit(chunk[j]);
                }
                i = end;
                if (i < chunk.size()) {
                    if (chunk[i] == '\n') {
                        emit('\n');
                        state_ = State::line_start;
                    } else {
                        state_ = State::cr;
                    }
                    ++i;
                }
                continue;
            }
            case State::cr:
                if (c == '\n') {
                    emit('\n');
                    state_ = State::line_start;
                    ++i;
                    continue;
                }
                emit('\r');  // a bare CR inside a line is data
                state_ = State::in_line;
                continue;
        }
    }
    return i;
}

std::string encode_data(std::string_view msg) {
    std::string out;
    out.reserve(msg.size() + msg.size() / 32 + 8);
    bool line_start = true;
    for (const char c : msg) {
        if (line_start && c == '.') out.push_back('.');
        if (c == '\n') {
            out += "\r\n";
            line_start = true;
            continue;
        }
        out.push_back(c);
        line_start = false;
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

std::optional<ReplyLine> parse_reply_line(std::string_view line) {
    if (line.size() < 3) return std::nullopt;
    for (int i = 0; i < 3; ++i) {
        if (line[static_cast<std::size_t>(i)] < '0' || line[static_cast<std::size_t>(i)] > '9') {
            return std::nullopt;
        }
    }
    ReplyLine r;
    r.reply.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r.reply.code < 200 || r.reply.code > 599) return std::nullopt;
    std::string_view rest = line.substr(3);
    if (!rest.empty()) {
        if (rest.front() == '-')
            r.more = true;
        else if (rest.front() != ' ')
            return std::nullopt;
        rest.remove_prefix(1);
    }
    // Enhanced status code "c.s.d" where c is the reply's class digit.
    const auto sp = rest.find(' ');
    const std::string_view first = rest.substr(0, sp);
    const auto d1 = first.find('.');
    const auto d2 = d1 == std::string_view::npos ? d1 : first.find('.', d1 + 1);
    if (d1 == 1 && d2 != std::string_view::npos && first.front() == line[0] &&
        std::all_of(first.begin(), first.end(),
                    [](char c) { return c == '.' || (c >= '0' && c <= '9'); })) {
        r.reply.enhanced = std::string(first);
        rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    }
    r.reply.text = std::string(rest);
    return r;
}

}  // namespace pampero::store::lmtp
