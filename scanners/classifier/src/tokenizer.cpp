#include "pampero/classifier/tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_set>

namespace pampero::classifier {
namespace {

// The tokenizer runs on every scanned message: it hashes in place (FNV-1a is a streaming
// hash, so a token made of several pieces is hashed piece by piece, never built as a
// string) and classifies bytes by table. The verbose sink (tests, debugging) builds each
// token's text as well, and the test SortedDistinctAndStable checks both make the same
// tokens; PinnedTokensOfSampleMessages pins the tokens themselves.
constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

std::uint64_t fnv(std::uint64_t h, std::string_view text) {
    for (unsigned char c : text) {
        h ^= c;
        h *= kFnvPrime;
    }
    return h;
}

// Letters, digits, bytes >= 0x80 (UTF-8 letters) and the inner punctuation $ ' - . ! _.
constexpr auto kWordByte = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[static_cast<std::size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                         (c >= '0' && c <= '9') || c >= 0x80 || c == '$' ||
                                         c == '\'' || c == '-' || c == '.' || c == '!' || c == '_';
    }
    return t;
}();

bool word_byte(unsigned char c) {
    return kWordByte[c];
}

bool inner_punct(unsigned char c) {
    return c == '\'' || c == '-' || c == '.' || c == '_' || c == '!' || c == '$';
}

char lower_byte(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower_byte(c);
    return out;
}

// Collects tokens in the order they are made; tokens() keeps the first kMaxTokens
// distinct ones. A vector sorted once is cheaper than a hash set per token (the set
// showed in the scan's profile); at most kMaxRaw are collected (bound on memory).
constexpr std::size_t kMaxRaw = 4 * kMaxTokens;

class Sink {
  public:
    // The tokens are collected in a buffer each thread keeps (at most kMaxRaw tokens,
    // 320 KB): a fresh 32 KB vector per message cost a tenth of the tokenizer (malloc
    // consolidating its free lists).
    explicit Sink(bool verbose) : verbose_(verbose), raw_(scratch()) { raw_.clear(); }

    bool verbose() const { return verbose_; }
    bool full() const { return raw_.size() >= kMaxRaw; }

    // The token of the concatenated pieces (hashed piece by piece).
    void add(std::initializer_list<std::string_view> pieces) {
        if (full()) return;  // bound: kMaxRaw tokens collected
        std::uint64_t h = kFnvBasis;
        for (const auto p : pieces) h = fnv(h, p);
        raw_.push_back(h);
        if (verbose_) {
            std::string text;
            for (const auto p : pieces) text.append(p);
            texts_.emplace_back(h, std::move(text));
        }
    }
    // The same with `tail` lowercased while hashed (no lowercased copy made).
    void add_lower(std::initializer_list<std::string_view> pieces, std::string_view tail) {
        if (full()) return;  // bound: kMaxRaw tokens collected
        std::uint64_t h = kFnvBasis;
        for (const auto p : pieces) h = fnv(h, p);
        for (const char c : tail) h = (h ^ static_cast<unsigned char>(lower_byte(c))) * kFnvPrime;
        raw_.push_back(h);
        if (verbose_) {
            std::string text;
            for (const auto p : pieces) text.append(p);
            texts_.emplace_back(h, text + lower(tail));
        }
    }
    void add(std::string_view text) { add({text}); }
    void add(std::string_view prefix, std::string_view text) { add({prefix, text}); }
    // A token already hashed; `text` makes its text, called only when verbose.
    template <typename TextFn>
    void add_token(Token t, TextFn text) {
        if (full()) return;
        raw_.push_back(t);
        if (verbose_) texts_.emplace_back(t, text());
    }

    // Consumes the sink: the distinct tokens, sorted.
    std::vector<Token> tokens() {
        std::vector<Token> out;
        tokens(out);
        return out;
    }
    void tokens(std::vector<Token>& out) {
        if (raw_.size() <= kMaxTokens) {
            // At most kMaxTokens made: all of them are kept.
            sorted_distinct(raw_, out);
            raw_.clear();
            return;
        }
        out = rare_tokens();
    }

  private:
    // The distinct tokens of `raw` (at most kMaxTokens), sorted, into `out`: the same as
    // sort + unique, for fewer instructions. Tokens are hashes, spread evenly over their
    // top bits: one counting pass puts them in about raw.size() / 2 buckets by those bits,
    // each then sorted on its own (a couple of tokens each; std::sort, so a bucket that a
    // sender filled on purpose costs n log n, not n^2). Bound: buckets <= 2^13.
    static void sorted_distinct(const std::vector<Token>& raw, std::vector<Token>& out) {
        const std::size_t n = raw.size();
        if (n < 64) {
            out.assign(raw.begin(), raw.end());
            std::sort(out.begin(), out.end());
            out.erase(std::unique(out.begin(), out.end()), out.end());
            return;
        }
        int bits = 5;
        while (bits < 13 && (std::size_t{4} << bits) <= n) ++bits;
        const std::size_t buckets = std::size_t{1} << bits;
        const int shift = 64 - bits;
        thread_local std::vector<std::uint32_t> start, cursor;
        start.assign(buckets + 1, 0);
        for (const Token t : raw) ++start[(t >> shift) + 1];
        for (std::size_t b = 1; b <= buckets; ++b) start[b] += start[b - 1];
        cursor.assign(start.begin(), start.end() - 1);
        out.resize(n);
        for (const Token t : raw) out[cursor[t >> shift]++] = t;
        Token* const data = out.data();
        for (std::size_t b = 0; b < buckets; ++b) {
            Token* const first = data + start[b];
            Token* const last = data + start[b + 1];
            if (last - first <= 8) {
                for (Token* i = first + 1; i < last; ++i) {
                    const Token v = *i;
                    Token* j = i;
                    while (j > first && *(j - 1) > v) {
                        *j = *(j - 1);
                        --j;
                    }
                    *j = v;
                }
            } else {
                std::sort(first, last);
            }
        }
        out.erase(std::unique(out.begin(), out.end()), out.end());
    }

    std::vector<Token> rare_tokens() const {
        std::vector<Token> out = raw_;
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        if (out.size() <= kMaxTokens) return out;
        // Rare: more distinct tokens than the bound. Keep the first ones made.
        std::unordered_set<Token> keep;
        for (const Token t : raw_) {
            if (keep.size() >= kMaxTokens) break;
            keep.insert(t);
        }
        out.assign(keep.begin(), keep.end());
        std::sort(out.begin(), out.end());
        return out;
    }

  public:
    std::vector<std::pair<Token, std::string>> texts() {
        auto text_list = std::move(texts_);
        const auto kept = tokens();
        std::sort(text_list.begin(), text_list.end());
        text_list.erase(
            std::unique(text_list.begin(), text_list.end(),
                        [](const auto& a, const auto& b) { return a.first == b.first; }),
            text_list.end());
        std::erase_if(text_list, [&](const auto& p) {
            return !std::binary_search(kept.begin(), kept.end(), p.first);
        });
        return text_list;
    }

  private:
    static std::vector<Token>& scratch() {
        thread_local std::vector<Token> buffer;
        return buffer;
    }

    bool verbose_;
    std::vector<Token>& raw_;
    std::vector<std::pair<Token, std::string>> texts_;
};

// Splits `text` into words (see tokenizer.hpp) and hands each to `fn` as it stands in
// `text` (any case), or a skip token made in `buf` (lowercase already), at most
// `max_words` of them.
template <typename Fn>
void split_words(std::string_view text, std::size_t max_words, char (&buf)[32], Fn fn) {
    static_assert(kMaxWordBytes <= sizeof buf);
    std::size_t n = 0;
    std::size_t i = 0;
    const std::size_t size = text.size();
    while (i < size && n < max_words) {
        while (i < size && !word_byte(static_cast<unsigned char>(text[i]))) ++i;
        std::size_t j = i;
        while (j < size && word_byte(static_cast<unsigned char>(text[j]))) ++j;
        std::string_view w = text.substr(i, j - i);
        i = j;
        // Trim punctuation at the start, and at the end except a run of ! or $ ("free!!").
        while (!w.empty() && inner_punct(static_cast<unsigned char>(w.front()))) w.remove_prefix(1);
        while (!w.empty() &&
               (w.back() == '.' || w.back() == '-' || w.back() == '\'' || w.back() == '_')) {
            w.remove_suffix(1);
        }
        if (w.size() < 2) continue;
        ++n;
        if (w.size() > kMaxWordBytes) {
            const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(w[0])));
            const auto end = fmt::format_to_n(buf, sizeof buf, "skip:{}{}", c, w.size() / 10 * 10);
            fn(std::string_view(buf, std::min(end.size, sizeof buf)));
        } else {
            fn(w);
        }
    }
}

// The words of `text` (split_words), each lowercased into a buffer of its own (valid
// during the call).
template <typename Fn>
void words(std::string_view text, std::size_t max_words, Fn fn) {
    char buf[32];  // a word of at most kMaxWordBytes, or a skip token
    split_words(text, max_words, buf, [&](std::string_view w) {
        if (w.data() != buf) {
            for (std::size_t k = 0; k < w.size(); ++k) buf[k] = lower_byte(w[k]);
        }
        fn(std::string_view(buf, w.size()));
    });
}

// Words of `text` and their OSB pairs, under `prefix`.
// FNV-1a is a streaming hash: hashing "a" then "b" gives token_of("ab"). A word's token
// and its pair with the word before ("prefix + earlier + ' ' + word") are hashed in one
// pass over the word's bytes, from the hash state after "prefix" and after "prefix +
// earlier + ' '" (building the strings was most of the tokenizer's cost). The verbose
// sink builds the texts anyway.
static_assert(kOsbWindow == 2, "osb() pairs a word with the one before it only");

// Byte classes of the scan below: kLetter (letters, digits, bytes >= 0x80), kKeepPunct
// (! $: trimmed at a word's start, kept at its end), kTrimPunct (' - . _: trimmed at both
// ends), kNone (not a word byte). The same sets as word_byte() and split_words' trims.
enum ByteClass : unsigned char { kNone, kLetter, kKeepPunct, kTrimPunct };
constexpr auto kByteClass = [] {
    std::array<ByteClass, 256> t{};
    for (int c = 0; c < 256; ++c) {
        if (!kWordByte[static_cast<std::size_t>(c)]) continue;
        t[static_cast<std::size_t>(c)] = c == '!' || c == '$' ? kKeepPunct
                                         : c == '\'' || c == '-' || c == '.' || c == '_'
                                             ? kTrimPunct
                                             : kLetter;
    }
    return t;
}();

// osb() without the verbose sink, in one pass over the text instead of two (split, then
// hash): a word starts at its first letter (the leading punctuation split_words trims),
// is hashed while scanned, and the hash states after its last byte that the end trim
// keeps are the word's. The same words, the same tokens (Tokenizer tests compare it with
// the verbose path, which runs osb()'s split_words loop); a tenth of the tokenizer's
// instructions fewer.
void osb_hashed(Sink& sink, std::string_view prefix, std::string_view text, std::size_t max_words) {
    const std::uint64_t base = fnv(kFnvBasis, prefix);
    std::uint64_t pair_base = 0;  // the state after "prefix + previous word + ' '"
    bool have_previous = false;
    const auto* const p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    std::size_t i = 0;
    std::size_t n = 0;
    while (i < size && n < max_words) {
        while (i < size && kByteClass[p[i]] != kLetter) ++i;
        if (i == size) break;
        const std::size_t start = i;
        std::uint64_t mine = base;
        std::uint64_t pair = pair_base;
        std::uint64_t mine_kept = mine;
        std::uint64_t pair_kept = pair;
        std::size_t kept_end = start;
        for (ByteClass k; i < size && (k = kByteClass[p[i]]) != kNone;) {
            const auto c = static_cast<unsigned char>(lower_byte(static_cast<char>(p[i])));
            mine = (mine ^ c) * kFnvPrime;
            pair = (pair ^ c) * kFnvPrime;
            ++i;
            if (k != kTrimPunct) {
                mine_kept = mine;
                pair_kept = pair;
                kept_end = i;
            }
        }
        const std::size_t length = kept_end - start;
        if (length < 2) continue;
        ++n;
        if (length > kMaxWordBytes) {  // split_words' skip token (lowercase already)
            char buf[32];
            const char c = static_cast<char>(std::tolower(p[start]));
            const auto end = fmt::format_to_n(buf, sizeof buf, "skip:{}{}", c, length / 10 * 10);
            const std::string_view w(buf, std::min(end.size, sizeof buf));
            mine_kept = fnv(base, w);
            pair_kept = fnv(pair_base, w);
        }
        sink.add_token(mine_kept, [] { return std::string(); });
        if (have_previous) sink.add_token(pair_kept, [] { return std::string(); });
        pair_base = (mine_kept ^ static_cast<unsigned char>(' ')) * kFnvPrime;
        have_previous = true;
    }
}

void osb(Sink& sink, std::string_view prefix, std::string_view text, std::size_t max_words) {
    const std::uint64_t base = fnv(kFnvBasis, prefix);
    if (!sink.verbose()) return osb_hashed(sink, prefix, text, max_words);
    std::uint64_t pair_base = 0;  // the state after "prefix + previous word + ' '"
    bool have_previous = false;
    std::string previous;  // verbose only
    char buf[32];
    // The words as they stand, lowercased while hashing (a copy of each word lowercased
    // first cost a tenth of the tokenizer); lower_byte leaves a skip token as it is.
    split_words(text, max_words, buf, [&](std::string_view w) {
        std::uint64_t mine = base;
        std::uint64_t pair = pair_base;
        for (const char ch : w) {
            const auto c = static_cast<unsigned char>(lower_byte(ch));
            mine = (mine ^ c) * kFnvPrime;
            pair = (pair ^ c) * kFnvPrime;
        }
        sink.add_token(mine, [&] { return std::string(prefix) + lower(w); });
        if (have_previous) {
            sink.add_token(pair, [&] { return std::string(prefix) + previous + " " + lower(w); });
        }
        pair_base = (mine ^ static_cast<unsigned char>(' ')) * kFnvPrime;
        have_previous = true;
        if (sink.verbose()) previous = lower(w);
    });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The address inside "Name <a@b>" (or the bare value), as it stands (any case).
std::string_view address_view(std::string_view v) {
    const auto lt = v.rfind('<');
    if (lt != std::string_view::npos) {
        const auto gt = v.find('>', lt);
        if (gt != std::string_view::npos) return trim(v.substr(lt + 1, gt - lt - 1));
    }
    const auto sp = v.find_first_of(" \t(");
    return trim(v.substr(0, sp));
}

// The same, lowercased.
std::string address_of(std::string_view v) {
    return lower(address_view(v));
}

std::string_view domain_of(std::string_view address) {
    const auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

// "abc123.XYZ@host" -> "aaa999.AAA@host": the shape of a Message-ID tells the software
// that made it.
std::string shape(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 64)) {
        if (c >= '0' && c <= '9')
            c = '9';
        else if (c >= 'a' && c <= 'z')
            c = 'a';
        else if (c >= 'A' && c <= 'Z')
            c = 'A';
        if (out.empty() || out.back() != static_cast<char>(c) || c == '.' || c == '@')
            out += static_cast<char>(c);
    }
    return out;
}

// Coarse buckets for counters: 0, 1, 2-3, 4-7, ... (log2), so counts generalise.
int bucket(std::size_t n) {
    int b = 0;
    while (n > 0) {
        n >>= 1;
        ++b;
    }
    return b;
}

// The header names the tokenizer reads (lowercase); every other header is skipped at the
// cost of a length compare.
constexpr std::string_view kHeaderNames[] = {
    "from",         "reply-to",   "return-path",       "sender",     "to",
    "cc",           "x-mailer",   "user-agent",        "message-id", "content-type",
    "precedence",   "x-priority", "x-msmail-priority", "importance", "content-transfer-encoding",
    "mime-version", "received"};
constexpr std::size_t kHeaderNameCount = std::size(kHeaderNames);

// The index of `name` (any case) in kHeaderNames, or kHeaderNameCount.
std::size_t header_index(std::string_view name) {
    for (std::size_t k = 0; k < kHeaderNameCount; ++k) {
        const std::string_view want = kHeaderNames[k];
        if (want.size() != name.size()) continue;
        std::size_t i = 0;
        while (i < name.size() && lower_byte(name[i]) == want[i]) ++i;
        if (i == name.size()) return k;
    }
    return kHeaderNameCount;
}

void headers(Sink& sink, const scan::Message& msg) {
    std::size_t received = 0;
    std::size_t per_name[kHeaderNameCount] = {};  // values seen per header name
    for (const auto& h : msg.headers) {
        const std::size_t k = header_index(h.name);
        if (k == kHeaderNameCount) continue;             // not a header we read
        if (++per_name[k] > kMaxHeaderValues) continue;  // bound: values per header name
        const std::string_view name = kHeaderNames[k];
        const std::string_view v = h.value;
        if (name == "from") {
            // Addresses and values are lowercased while hashed (Sink::add_lower), not copied.
            const std::string_view a = address_view(v);
            sink.add_lower({"from:"}, a);
            sink.add_lower({"from-domain:"}, domain_of(a));
            const auto lt = v.rfind('<');
            if (lt != std::string_view::npos) {
                words(v.substr(0, lt), 8, [&](std::string_view w) { sink.add("from-name:", w); });
            }
        } else if (name == "reply-to" || name == "return-path" || name == "sender") {
            sink.add_lower({name, "-domain:"}, domain_of(address_view(v)));
        } else if (name == "to" || name == "cc") {
            std::size_t n = 0;
            std::size_t start = 0;
            while (start < v.size() && n < 20) {
                const auto comma = v.find(',', start);
                const auto one =
                    v.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                    : comma - start);
                sink.add_lower({name, "-domain:"}, domain_of(address_view(one)));
                ++n;
                if (comma == std::string_view::npos) break;
                start = comma + 1;
            }
            sink.add({name, "-count:", std::to_string(bucket(n))});
        } else if (name == "x-mailer" || name == "user-agent") {
            sink.add_lower({"mailer:"}, trim(v.substr(0, 80)));
            words(v, 6, [&](std::string_view w) { sink.add("mailer-word:", w); });
        } else if (name == "message-id") {
            const std::string id = address_of(v);
            sink.add("msgid-shape:", shape(id));
            sink.add("msgid-domain:", domain_of(id));
        } else if (name == "content-type" || name == "precedence" || name == "x-priority" ||
                   name == "x-msmail-priority" || name == "importance" ||
                   name == "content-transfer-encoding" || name == "mime-version") {
            sink.add_lower({name, ":"}, trim(v.substr(0, 40)));
        } else if (name == "received" && received < 4) {
            // The newest hops only: older ones are the sender's own, and forged at will.
            ++received;
            const auto lb = v.find('[');
            if (lb != std::string_view::npos) {
                const auto rb = v.find(']', lb);
                std::string_view ip =
                    v.substr(lb + 1, rb == std::string_view::npos ? 0 : rb - lb - 1);
                const auto d1 = ip.find('.');
                const auto d2 = d1 == std::string_view::npos ? d1 : ip.find('.', d1 + 1);
                if (d2 != std::string_view::npos) sink.add("rcvd-net:", ip.substr(0, d2));
            }
            if (v.rfind("from ", 0) == 0) {
                const auto host = v.substr(5, v.find_first_of(" \t(", 5) - 5);
                const auto dot = host.find('.');
                if (dot != std::string_view::npos)
                    sink.add_lower({"rcvd-domain:"}, host.substr(dot + 1));
            }
        }
    }
}

void mime(Sink& sink, const scan::Message& msg) {
    for (const auto& p : msg.parts) {
        sink.add("part:", p.type);
        if (!p.charset.empty()) sink.add("charset:", p.charset);
        if (!p.encoding.empty()) sink.add({"encoding:", p.type, " ", p.encoding});
        if (p.attachment) {
            const auto dot = p.filename.rfind('.');
            sink.add("attach:", dot == std::string::npos ? p.type : lower(p.filename.substr(dot)));
        }
        if (p.bad_charset) sink.add("badcharset");
    }
    const auto& h = msg.html;
    if (h.tags > 0) {
        sink.add("html:tags:", std::to_string(bucket(h.tags)));
        sink.add("html:images:", std::to_string(bucket(h.images)));
        sink.add("html:anchors:", std::to_string(bucket(h.anchors)));
        sink.add("html:text:", std::to_string(bucket(h.text_bytes)));
        if (h.forms) sink.add("html:forms");
        if (h.scripts) sink.add("html:scripts");
        if (h.iframes) sink.add("html:iframes");
        if (h.hidden_bytes) sink.add("html:hidden:", std::to_string(bucket(h.hidden_bytes)));
        if (h.tiny_bytes) sink.add("html:tiny:", std::to_string(bucket(h.tiny_bytes)));
        if (h.split_words) sink.add("html:split");
        if (h.entity_letters) sink.add("html:entities");
    }
    for (const auto& u : msg.uris) {
        if (sink.full()) break;
        if (u.host_is_ip) {
            sink.add("uri-ip");
        } else {
            sink.add("uri-domain:", u.domain);
            sink.add("uri-host:", u.host);
        }
        sink.add("uri-scheme:", u.scheme);
    }
}

void collect(Sink& sink, const scan::Message& msg) {
    headers(sink, msg);
    if (const auto* s = msg.find("Subject")) {
        osb(sink, "subject:", s->value, 50);
    } else {
        sink.add("subject:none");
    }
    mime(sink, msg);
    osb(sink, "", msg.body_text, kMaxBodyWords);  // bound: kMaxBodyWords words
}

}  // namespace

Token token_of(std::string_view text) {
    return fnv(kFnvBasis, text);
}

std::vector<Token> tokenize(const scan::Message& msg) {
    std::vector<Token> out;
    tokenize(msg, out);
    return out;
}

void tokenize(const scan::Message& msg, std::vector<Token>& out) {
    Sink sink(false);
    collect(sink, msg);
    sink.tokens(out);
}

std::vector<std::pair<Token, std::string>> tokenize_verbose(const scan::Message& msg) {
    Sink sink(true);
    collect(sink, msg);
    return sink.texts();
}

std::string message_id(const scan::Message& msg) {
    std::string key;
    for (const char* name : {"Message-ID", "Date", "From", "Subject"}) {
        if (const auto* h = msg.find(name)) key += h->value;
        key += '\n';
    }
    key.append(msg.body_text.substr(0, 4096));
    return fmt::format("{:016x}", token_of(key));
}

}  // namespace pampero::classifier
