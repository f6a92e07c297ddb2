// zone_text_parser.cpp - the rbldnsd zone text parser. See zone_text_parser.hpp.
#include "zone_text_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace pampero::scan::zone_detail {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// yyyy[:-]mm[:-]dd[[:-]hh[[:-]mi[[:-]ss]]]; "0" or "-" = not given.
bool parse_stamp(std::string_view s, std::int64_t& out) {
    if (s == "0" || s == "-") {
        out = 0;
        return true;
    }
    std::string digits;
    for (char c : s) {
        if (c >= '0' && c <= '9')
            digits += c;
        else if (c != ':' && c != '-')
            return false;
    }
    if (digits.size() != 8 && digits.size() != 10 && digits.size() != 12 && digits.size() != 14)
        return false;
    std::tm tm{};
    auto num = [&](std::size_t at, std::size_t len) { return std::stoi(digits.substr(at, len)); };
    tm.tm_year = num(0, 4) - 1900;
    tm.tm_mon = num(4, 2) - 1;
    tm.tm_mday = num(6, 2);
    if (digits.size() >= 10) tm.tm_hour = num(8, 2);
    if (digits.size() >= 12) tm.tm_min = num(10, 2);
    if (digits.size() >= 14) tm.tm_sec = num(12, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 59) {
        return false;
    }
    out = static_cast<std::int64_t>(timegm(&tm));
    return true;
}

bool parse_uint(std::string_view s, std::uint64_t max, unsigned& out) {
    if (s.empty() || s.size() > 10) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > max) return false;
    out = static_cast<unsigned>(v);
    return true;
}

// "a.b.c.d" with 1..4 octets of 1..3 decimal digits; returns the count or -1.
int split_octets(std::string_view s, std::uint32_t out[4]) {
    int n = 0;
    std::size_t i = 0;
    if (s.empty()) return -1;
    for (;;) {
        if (n == 4) return -1;
        std::size_t d = 0;
        std::uint32_t v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && d < 4) {
            v = v * 10 + static_cast<std::uint32_t>(s[i] - '0');
            ++i;
            ++d;
        }
        if (d == 0 || d > 3 || v > 255) return -1;
        out[n++] = v;
        if (i == s.size()) return n;
        if (s[i] != '.') return -1;
        ++i;
    }
}

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > Zone::kMaxNameLength) return false;
    std::size_t label = 0;
    for (char c : s) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            return false;
        if (++label > 63) return false;
    }
    return label != 0;
}

}  // namespace

void ZoneTextParser::run(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no_;
        if (line.size() > Zone::kMaxLine)
            fail(fmt::format("line longer than {} bytes", Zone::kMaxLine));
        while (!line.empty() && (is_space(line.back()) || line.back() == '\r'))
            line.remove_suffix(1);
        while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
        if (line.empty()) continue;
        if (line.find('\0') != std::string_view::npos) fail("NUL byte in line");
        handle(line);
    }
}

void ZoneTextParser::fail(const std::string& why) const {
    throw ZoneParseError(fmt::format("{}:{}: {}", name_, line_no_, why));
}

void ZoneTextParser::warn(const std::string& why) {
    ++stats_.warnings;
    if (stats_.first_warnings.size() < Zone::kMaxWarningsKept) {
        stats_.first_warnings.push_back(fmt::format("{}:{}: {}", name_, line_no_, why));
    }
}

void ZoneTextParser::handle(std::string_view line) {
    const char c = line[0];
    if (c == '$') return special(line.substr(1), true);
    if ((c == '#' || c == ';' || c == ':') && line.size() > 1 && line[1] == '$') {
        return special(line.substr(2), c == ':');
    }
    if (c == '#' || c == ';') return;
    if (c == ':') {
        if (format_ == ZoneFormat::ip4tset && defaults_seen_)
            fail("ip4tset takes one value line for all entries");
        defaults_seen_ = true;
        parse_value(line, def_a_, def_txt_);
        def_answer_ = kExcluded;  // re-intern lazily
        return;
    }
    if (++stats_.entries > Zone::kMaxEntries)
        fail(fmt::format("more than {} entries", Zone::kMaxEntries));
    if (format_ == ZoneFormat::dnset)
        name_entry(line);
    else
        ip_entry(line);
}

// --- specials ------------------------------------------------------------------
void ZoneTextParser::special(std::string_view s, bool strict) {
    std::size_t w = 0;
    while (w < s.size() && !is_space(s[w])) ++w;
    const std::string_view word = s.substr(0, w);
    std::string_view rest = s.substr(w);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (word.size() == 1 && word[0] >= '0' && word[0] <= '9') {
        const int n = word[0] - '0';
        answers_.define_var(static_cast<unsigned>(n), rest);
    } else if (word == "=") {
        answers_.define_base(rest);
    } else if (word == "SOA" || word == "NS" || word == "TTL") {
        if (rest.empty()) fail(fmt::format("${} needs a value", word));
    } else if (word == "MAXRANGE4") {
        maxrange(rest);
    } else if (word == "TIMESTAMP") {
        timestamp(rest);
    } else if (strict) {
        fail(fmt::format("unknown special '${}'", word));
    }
    // "#$word" / ";$word" that is no special of ours: a comment, as for rbldns.
}

void ZoneTextParser::maxrange(std::string_view v) {
    std::uint64_t size = 0;
    if (!v.empty() && v[0] == '/') {
        unsigned bits = 0;
        if (!parse_uint(v.substr(1), 32, bits) || bits == 0)
            fail("$MAXRANGE4: expected /1../32 or a host count");
        size = std::uint64_t{1} << (32 - bits);
    } else {
        unsigned hosts = 0;
        if (!parse_uint(v, 0xffffffffu, hosts) || hosts == 0)
            fail("$MAXRANGE4: expected /1../32 or a host count");
        size = hosts;
    }
    if (maxrange_ == 0 || size < maxrange_) maxrange_ = size;
}

void ZoneTextParser::timestamp(std::string_view v) {
    std::size_t sp = 0;
    while (sp < v.size() && !is_space(v[sp])) ++sp;
    std::string_view stamp = v.substr(0, sp), exp = v.substr(sp);
    while (!exp.empty() && is_space(exp.front())) exp.remove_prefix(1);
    std::int64_t dstamp = 0, expires = 0;
    if (!parse_stamp(stamp, dstamp)) fail("$TIMESTAMP: bad stamp (yyyy:mm:dd[:hh[:mi[:ss]]])");
    if (!exp.empty()) {
        if (exp[0] == '+') {
            unsigned n = 0;
            std::size_t d = 1;
            while (d < exp.size() && exp[d] >= '0' && exp[d] <= '9') ++d;
            if (d == 1 || !parse_uint(exp.substr(1, d - 1), 0x7fffffff, n))
                fail("$TIMESTAMP: bad +offset");
            std::int64_t mult = 1;
            const std::string_view unit = exp.substr(d);
            if (unit.empty() || unit == "s")
                mult = 1;
            else if (unit == "m")
                mult = 60;
            else if (unit == "h")
                mult = 3600;
            else if (unit == "d")
                mult = 86400;
            else if (unit == "w")
                mult = 7 * 86400;
            else
                fail("$TIMESTAMP: bad +offset unit");
            if (dstamp == 0) fail("$TIMESTAMP: +offset needs a stamp");
            expires = dstamp + mult * n;
        } else if (!parse_stamp(exp, expires)) {
            fail("$TIMESTAMP: bad expiry");
        }
    }
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    if (dstamp > now) fail("$TIMESTAMP: data stamped in the future");
    if (expires != 0 && expires < now) fail("$TIMESTAMP: data expired");
    if (expires != 0 && (expires_ == 0 || expires < expires_)) expires_ = expires;
}

// --- values --------------------------------------------------------------------
// `s` starts with ':' (A[:TXT]) or is a bare TXT.
void ZoneTextParser::parse_value(std::string_view s, std::uint32_t& a, std::string& txt) {
    if (s.empty() || s[0] != ':') {
        a = def_a_;
        set_txt(txt, s);
        return;
    }
    std::size_t i = 1;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    const std::string_view av = s.substr(1, i - 1);
    std::uint32_t octets[4];
    const int n = split_octets(av, octets);
    if (n == 1) {
        if (octets[0] == 0) fail("invalid A value (0)");
        a = 0x7f000000u | octets[0];
    } else if (n == 4) {
        a = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3];
        if (a == 0) fail("invalid A value (0.0.0.0)");
    } else {
        fail(fmt::format("invalid A value '{}' (want N for 127.0.0.N, or a full address)", av));
    }
    while (i < s.size() && is_space(s[i])) ++i;
    if (i == s.size()) {
        txt = def_txt_;
        return;
    }
    if (s[i] != ':') fail("unrecognized value after the A value");
    ++i;
    while (i < s.size() && is_space(s[i])) ++i;
    set_txt(txt, s.substr(i));
}

void ZoneTextParser::set_txt(std::string& txt, std::string_view s) {
    if (s.size() > kMaxTxt) {
        warn("TXT truncated to 255 bytes");
        s = s.substr(0, kMaxTxt);
    }
    txt.assign(s);
}

// The answer id for the rest of an entry line (after the key), or the default.
std::uint32_t ZoneTextParser::entry_answer(std::string_view rest, bool exclusion) {
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (exclusion) return kExcluded;  // rbldnsd ignores an exclusion's value
    if (rest.empty() || rest[0] == '#' || rest[0] == ';') {
        if (def_answer_ == kExcluded) def_answer_ = answers_.intern(def_a_, def_txt_);
        return def_answer_;
    }
    if (format_ == ZoneFormat::ip4tset)
        fail("ip4tset entries take no value (use one ':A:TXT' line)");
    std::uint32_t a = 0;
    std::string txt;
    parse_value(rest, a, txt);
    return answers_.intern(a, txt);
}

// --- IP entries ------------------------------------------------------------------
void ZoneTextParser::ip_entry(std::string_view line) {
    bool exclusion = false;
    if (line[0] == '!') {
        if (format_ == ZoneFormat::ip4tset) fail("ip4tset has no exclusions");
        exclusion = true;
        line.remove_prefix(1);
        ++stats_.exclusions;
    }
    std::size_t end = 0;
    while (end < line.size() && !is_space(line[end])) ++end;
    const std::string_view key = line.substr(0, end);
    std::uint32_t lo = 0, hi = 0;
    if (!parse_range(key, lo, hi)) fail(fmt::format("invalid address '{}'", key));
    const std::uint32_t aid = entry_answer(line.substr(end), exclusion);
    if (format_ == ZoneFormat::ip4tset && lo != hi) fail("ip4tset takes single addresses only");
    const std::uint64_t count = std::uint64_t{hi} - lo + 1;
    if (maxrange_ != 0 && count > maxrange_) {
        warn(fmt::format("range of {} addresses over $MAXRANGE4 {} skipped", count, maxrange_));
        --stats_.entries;
        if (exclusion) --stats_.exclusions;
        return;
    }
    if (lo > hi) {  // a CIDR with host bits set, warned about and skipped
        --stats_.entries;
        if (exclusion) --stats_.exclusions;
        return;
    }
    ips_.add_range(lo, hi, aid);
}

// rbldnsd's ip4set keys; false = unparseable. A CIDR with host bits set is parseable but
// skipped: it is warned about here and given lo > hi, which tells ip_entry to skip it.
bool ZoneTextParser::parse_range(std::string_view s, std::uint32_t& lo, std::uint32_t& hi) {
    const auto slash = s.find('/');
    const auto dash = s.find('-');
    std::uint32_t o[4];
    auto pack = [](const std::uint32_t* oc, int n, std::uint32_t fill) {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | (i < n ? oc[i] : fill);
        return v;
    };
    if (slash != std::string_view::npos) {
        if (dash != std::string_view::npos) return false;
        const int n = split_octets(s.substr(0, slash), o);
        unsigned bits = 0;
        if (n < 1 || !parse_uint(s.substr(slash + 1), 32, bits) || bits == 0) return false;
        const std::uint32_t addr = pack(o, n, 0);
        const std::uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
        if (addr & ~mask) {
            // rbldnsd: "invalid range (non-zero host part)", entry ignored.
            warn(fmt::format("CIDR '{}' has host bits set; skipped", s));
            lo = 1;
            hi = 0;
            return true;
        }
        lo = addr;
        hi = addr | ~mask;
        return true;
    }
    if (dash != std::string_view::npos) {
        std::uint32_t e[4];
        const int n = split_octets(s.substr(0, dash), o);
        const int m = split_octets(s.substr(dash + 1), e);
        if (n < 1 || m < 1) return false;
        lo = pack(o, n, 0);
        if (m == 1) {
            std::uint32_t t[4];
            std::copy(o, o + n, t);
            t[n - 1] = e[0];
            hi = pack(t, n, 255);
        } else {
            hi = pack(e, m, 255);
        }
        return lo <= hi;
    }
    const int n = split_octets(s, o);
    if (n < 2) return false;  // rbldnsd: a lone number is no address
    if (format_ == ZoneFormat::ip4tset && n != 4) return false;
    lo = pack(o, n, 0);
    hi = pack(o, n, 255);
    return true;
}

// --- dnset entries ---------------------------------------------------------------
void ZoneTextParser::name_entry(std::string_view line) {
    bool exclusion = false;
    if (line[0] == '!') {
        exclusion = true;
        line.remove_prefix(1);
        ++stats_.exclusions;
    }
    std::size_t end = 0;
    while (end < line.size() && !is_space(line[end])) ++end;
    std::string_view key = line.substr(0, end);
    bool exact = true, wild = false;
    if (key.size() >= 2 && key[0] == '*' && key[1] == '.') {
        exact = false;
        wild = true;
        key.remove_prefix(2);
    } else if (!key.empty() && key[0] == '.') {
        wild = true;
        key.remove_prefix(1);
    }
    if (!key.empty() && key.back() == '.') key.remove_suffix(1);
    if (!valid_name(key)) fail(fmt::format("invalid domain name '{}'", line.substr(0, end)));
    const std::uint32_t aid = entry_answer(line.substr(end), exclusion);
    try {
        if (exact) names_.add(key, NameKind::exact, aid);
        if (wild) names_.add(key, NameKind::wildcard, aid);
    } catch (const std::length_error& e) {
        fail(e.what());
    }
}

}  // namespace pampero::scan::zone_detail
