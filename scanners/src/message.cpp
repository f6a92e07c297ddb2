#include "pampero/scan/message.hpp"

#include <array>
#include <cctype>

namespace pampero::scan {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Lenient: skips anything that is not base64 (line breaks, junk), stops at '='.
std::string decode_base64(std::string_view in) {
    std::string out;
    out.reserve(in.size() * 3 / 4);
    unsigned buf = 0;
    int bits = 0;
    for (unsigned char c : in) {
        if (c == '=') break;
        const int v = b64_value(c);
        if (v < 0) continue;
        buf = (buf << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buf >> bits) & 0xff));
        }
    }
    return out;
}

int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<unsigned char>(std::toupper(c));
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 2045 6.7; a broken escape is kept as written.
std::string decode_qp(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c != '=') {
            out.push_back(c);
            continue;
        }
        if (i + 1 < in.size() && in[i + 1] == '\n') {  // soft break
            ++i;
            continue;
        }
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
            continue;
        }
        if (i + 2 < in.size()) {
            const int hi = hex_value(static_cast<unsigned char>(in[i + 1]));
            const int lo = hex_value(static_cast<unsigned char>(in[i + 2]));
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

const Header* Message::find(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return &h;
    }
    return nullptr;
}

Message parse_message(std::string_view raw, std::size_t limit) {
    if (raw.size() > limit) raw = raw.substr(0, limit);
    Message m;
    std::size_t pos = 0;
    Header* current = nullptr;
    while (pos < raw.size()) {
        auto eol = raw.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? raw.size() : eol + 1;
        std::string_view line = raw.substr(pos, next - pos);
        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {  // end of headers
            pos = next;
            break;
        }
        if ((line.front() == ' ' || line.front() == '\t') && current) {
            if (current->value.size() < kMaxHeaderValue) {
                current->value += ' ';
                current->value += trim(line);
                if (current->value.size() > kMaxHeaderValue) current->value.resize(kMaxHeaderValue);
            }
            pos = next;
            continue;
        }
        const auto colon = line.find(':');
        const bool is_header = colon != std::string_view::npos && colon > 0 &&
                               line.substr(0, colon).find_first_of(" \t") == std::string_view::npos;
        if (!is_header) break;  // not a header: the rest is body (broken mail happens)
        if (m.headers.size() < kMaxHeaders) {
            std::string_view value = trim(line.substr(colon + 1));
            if (value.size() > kMaxHeaderValue) value = value.substr(0, kMaxHeaderValue);
            m.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
            current = &m.headers.back();
        } else {
            current = nullptr;
        }
        pos = next;
    }
    m.raw_body = std::string(raw.substr(std::min(pos, raw.size())));

    const Header* cte = m.find("Content-Transfer-Encoding");
    const Header* ctype = m.find("Content-Type");
    const bool multipart = ctype && ctype->value.size() >= 9 &&
                           iequals(std::string_view(ctype->value).substr(0, 9), "multipart");
    if (cte && !multipart) {
        const std::string_view enc = trim(cte->value);
        if (iequals(enc, "base64")) {
            m.body_text = decode_base64(m.raw_body);
            return m;
        }
        if (iequals(enc, "quoted-printable")) {
            m.body_text = decode_qp(m.raw_body);
            return m;
        }
    }
    m.body_text = m.raw_body;
    return m;
}

}  // namespace pampero::scan
