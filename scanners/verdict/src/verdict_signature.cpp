#include "pampero/verdict/verdict_signature.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pampero/common/strings.hpp"

namespace pampero::scan {
namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string strip_ws(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v)
        if (!is_ws(c)) out.push_back(c);
    return out;
}

std::string base64(const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int len =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(std::max(len, 0)));
    return out;
}

std::optional<std::string> unbase64(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    for (char c : text) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
            return std::nullopt;
    }
    std::string out(text.size() / 4 * 3, '\0');
    const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(text.data()),
                                    static_cast<int>(text.size()));
    if (len < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t pad = 0;
    if (text.back() == '=') ++pad;
    if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
    out.resize(static_cast<std::size_t>(len) - pad);
    return out;
}

std::optional<std::string> unhex(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        unsigned v = 0;
        const auto [p, ec] = std::from_chars(text.data() + i, text.data() + i + 2, v, 16);
        if (ec != std::errc() || p != text.data() + i + 2) return std::nullopt;
        out.push_back(static_cast<char>(v));
    }
    return out;
}

bool valid_key_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

// What the HMAC covers: one field a line, values without whitespace, so no field can
// spill into the next.
std::string signed_text(std::string_view key_id, std::int64_t t, const VerdictFields& f) {
    return fmt::format(
        "pampero-verdict-v1\nk={}\nt={}\nscore={}\nstatus={}\nsubject={}\nmessage-id={}\nbh={}\n",
        key_id, t, strip_ws(f.score), strip_ws(f.status), strip_ws(f.subject),
        strip_ws(f.message_id), strip_ws(f.body_hash));
}

// OpenSSL 3 looks an algorithm up by name (its providers, under locks) whenever it is
// handed a legacy EVP_sha256() or asked for a one-shot HMAC(), and HMAC() also builds and
// frees a context each call: a cost per message in the milter and the store. SHA-256 is
// fetched once per process; each thread keeps one HMAC context keyed with the last key it
// used and only re-initialises it (EVP_MAC_init without a key keeps the key).
const EVP_MD* sha256() {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md ? md : EVP_sha256();  // no provider would have it: the legacy path decides
}

struct MacContext {
    EVP_MAC* mac = nullptr;
    EVP_MAC_CTX* ctx = nullptr;
    std::string secret;  // the key ctx holds (to recognise it; cleansed when replaced)
    MacContext() {
        mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (mac) ctx = EVP_MAC_CTX_new(mac);
    }
    ~MacContext() {
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
        OPENSSL_cleanse(secret.data(), secret.size());
    }
    MacContext(const MacContext&) = delete;
    MacContext& operator=(const MacContext&) = delete;

    // Ready for `key`: false when OpenSSL cannot (the caller takes the one-shot path).
    bool init(const std::string& key) {
        if (!ctx) return false;
        if (!secret.empty() && secret.size() == key.size() &&
            CRYPTO_memcmp(secret.data(), key.data(), key.size()) == 0) {
            return EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
        }
        OPENSSL_cleanse(secret.data(), secret.size());
        secret.clear();
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                     OSSL_PARAM_construct_end()};
        if (EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                         params) != 1)
            return false;
        secret = key;
        return true;
    }
};

std::string mac(const VerdictKey& key, std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    thread_local MacContext m;
    std::size_t len = 0;
    if (m.init(key.secret) &&
        EVP_MAC_update(m.ctx, reinterpret_cast<const unsigned char*>(text.data()), text.size()) ==
            1 &&
        EVP_MAC_final(m.ctx, out.data(), &len, out.size()) == 1) {
        return base64(out.data(), len);
    }
    unsigned int n = 0;
    HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data(), &n);
    return base64(out.data(), n);
}

bool same(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<double> parse_score(std::string_view v) {
    const std::string s = strip_ws(v);
    double d = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d))
        return std::nullopt;
    return d;
}

VerdictCheck invalid(std::string reason, std::string key_id = "") {
    VerdictCheck c;
    c.outcome = VerdictCheck::Outcome::invalid;
    c.reason = std::move(reason);
    c.key_id = std::move(key_id);
    return c;
}

}  // namespace

// --- keys -------------------------------------------------------------------------------

const VerdictKey* VerdictKeys::find(std::string_view id) const {
    for (const auto& k : keys_)
        if (k.id == id) return &k;
    return nullptr;
}

Result<VerdictKeys> VerdictKeys::parse(std::string_view text, const std::string& origin) {
    VerdictKeys out;
    out.origin_ = origin;
    if (text.size() > kVerdictKeyFileMax) {
        return Error::config(fmt::format("{}: larger than {} bytes", origin, kVerdictKeyFileMax));
    }
    std::size_t pos = 0;
    int line_no = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++line_no;
        if (const auto hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        std::istringstream in{std::string(line)};
        std::string id, secret, extra;
        if (!(in >> id)) continue;  // blank or comment
        const auto where = [&](const std::string& what) {
            return Error::config(fmt::format("{}:{}: {}", origin, line_no, what));
        };
        if (!(in >> secret))
            return where(fmt::format("key '{}' has no secret (expected 'KEYID SECRET')", id));
        if (in >> extra) return where("expected 'KEYID SECRET', found more fields");
        if (!valid_key_id(id)) return where("key id must be 1-64 characters of A-Z a-z 0-9 . _ -");
        if (out.find(id)) return where(fmt::format("key id '{}' appears twice", id));
        const bool hex = secret.size() >= 2 * kVerdictKeyMinBytes &&
                         std::all_of(secret.begin(), secret.end(), [](char c) {
                             return std::isxdigit(static_cast<unsigned char>(c));
                         });
        auto raw = hex ? unhex(secret) : unbase64(secret);
        if (!raw) return where(fmt::format("key '{}': the secret is neither hex nor base64", id));
        if (raw->size() < kVerdictKeyMinBytes) {
            return where(fmt::format("key '{}': the secret is {} bytes, at least {} are needed", id,
                                     raw->size(), kVerdictKeyMinBytes));
        }
        if (out.keys_.size() >= kVerdictKeysMax)
            return where(fmt::format("more than {} keys", kVerdictKeysMax));
        out.keys_.push_back({id, std::move(*raw)});
    }
    if (out.keys_.empty())
        return Error::config(fmt::format("{}: no key (expected lines 'KEYID SECRET')", origin));
    return out;
}

Result<std::shared_ptr<const VerdictKeys>> VerdictKeys::load(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return Error::config(fmt::format("verdict_keys: {}: {}", path, std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode))
        return Error::config(fmt::format("verdict_keys: {}: not a regular file", path));
    if (st.st_mode & S_IROTH) {
        return Error::config(
            fmt::format("verdict_keys: {}: readable by others (mode {:04o}); chmod o-rwx it", path,
                        st.st_mode & 07777));
    }
    if (static_cast<std::uint64_t>(st.st_size) > kVerdictKeyFileMax) {
        return Error::config(
            fmt::format("verdict_keys: {}: larger than {} bytes", path, kVerdictKeyFileMax));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::config(fmt::format("verdict_keys: {}: {}", path, std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    auto keys = parse(text.str(), path);
    if (!keys) return keys.error();
    return std::shared_ptr<const VerdictKeys>(
        std::make_shared<VerdictKeys>(std::move(keys).value()));
}

Result<std::string> new_verdict_secret() {
    std::array<unsigned char, kVerdictKeyMinBytes> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
        return Error::temporary("RAND_bytes failed: no random bytes for a new key");
    }
    std::string out;
    for (unsigned char c : raw) out += fmt::format("{:02x}", c);
    OPENSSL_cleanse(raw.data(), raw.size());
    return out;
}

// --- body hash --------------------------------------------------------------------------

// Initialised when the first bytes come, not at every reset(): the milter resets at MAIL,
// after the signature and at the end of the transaction, and OpenSSL 3 frees and makes
// the digest's context again at each init.
struct BodyHash::Ctx {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    bool started = false;
    ~Ctx() { EVP_MD_CTX_free(md); }
    void start() {
        if (started) return;
        EVP_DigestInit_ex(md, sha256(), nullptr);
        started = true;
    }
};

BodyHash::BodyHash() : ctx_(std::make_unique<Ctx>()) {}
BodyHash::~BodyHash() = default;
BodyHash::BodyHash(BodyHash&&) noexcept = default;
BodyHash& BodyHash::operator=(BodyHash&&) noexcept = default;

void BodyHash::reset() {
    ctx_->started = false;
}

void BodyHash::update(std::string_view chunk) {
    // Whitespace out, in blocks: the body is never copied whole.
    // Branch-free: every byte is written, the count only moves past the kept ones.
    static constexpr auto keep = [] {
        std::array<unsigned char, 256> t{};
        for (int c = 0; c < 256; ++c) t[c] = !(c == ' ' || c == '\t' || c == '\r' || c == '\n');
        return t;
    }();
    std::array<char, 4096> buf;
    if (!chunk.empty()) ctx_->start();
    while (!chunk.empty()) {
        const std::size_t take = std::min(chunk.size(), buf.size());
        std::size_t n = 0;
        for (std::size_t i = 0; i < take; ++i) {
            const char c = chunk[i];
            buf[n] = c;
            n += keep[static_cast<unsigned char>(c)];
        }
        if (n > 0) EVP_DigestUpdate(ctx_->md, buf.data(), n);
        chunk.remove_prefix(take);
    }
}

std::string BodyHash::finish() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    ctx_->start();  // an empty body has a hash too
    EVP_DigestFinal_ex(ctx_->md, out.data(), &len);
    reset();
    return base64(out.data(), len);
}

std::string body_hash(std::string_view body) {
    BodyHash h;
    h.update(body);
    return h.finish();
}

// --- sign and verify --------------------------------------------------------------------

std::string sign_verdict(const VerdictKey& key, std::int64_t unix_time, const VerdictFields& f) {
    return fmt::format("v=1; k={}; t={}; bh={}; s={}", key.id, unix_time, strip_ws(f.body_hash),
                       mac(key, signed_text(key.id, unix_time, f)));
}

void VerdictCollector::header(std::string_view name, std::string_view value) {
    if (!subject_ && iequals(name, "Subject")) subject_ = std::string(value);
    if (!message_id_ && iequals(name, "Message-ID")) message_id_ = std::string(value);
}

std::string VerdictCollector::sign(const VerdictKey& key, std::int64_t unix_time,
                                   std::string_view score, std::string_view status) {
    const VerdictFields f{std::string(score), std::string(status), subject_.value_or(""),
                          message_id_.value_or(""), body_.finish()};
    return sign_verdict(key, unix_time, f);
}

void VerdictCollector::reset() {
    body_.reset();
    subject_.reset();
    message_id_.reset();
}

VerdictCheck verify_verdict(const VerdictKeys* keys, std::string_view signature,
                            const VerdictFields& f, std::int64_t now, std::int64_t max_age) {
    if (signature.size() > kVerdictSignatureMax) return invalid("X-Spam-Signature too long");
    // Tags: v, k, t, bh, s, each exactly once, nothing else.
    std::string v, k, t, bh, s;
    const std::string text = strip_ws(signature);
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto semi = text.find(';', pos);
        if (semi == std::string::npos) semi = text.size();
        const std::string_view tag = std::string_view(text).substr(pos, semi - pos);
        pos = semi + 1;
        if (tag.empty()) continue;
        const auto eq = tag.find('=');
        if (eq == std::string_view::npos) return invalid("X-Spam-Signature: malformed tag");
        const std::string_view name = tag.substr(0, eq);
        std::string* slot = name == "v"    ? &v
                            : name == "k"  ? &k
                            : name == "t"  ? &t
                            : name == "bh" ? &bh
                            : name == "s"  ? &s
                                           : nullptr;
        if (!slot) return invalid("X-Spam-Signature: unknown tag");
        if (!slot->empty()) return invalid("X-Spam-Signature: a tag appears twice");
        *slot = std::string(tag.substr(eq + 1));
        if (slot->empty()) return invalid("X-Spam-Signature: empty tag");
    }
    if (v != "1") return invalid("X-Spam-Signature: not version 1");
    if (k.empty() || t.empty() || bh.empty() || s.empty())
        return invalid("X-Spam-Signature: a tag is missing");
    if (!keys) return invalid("no verdict_keys configured here", k);
    const VerdictKey* key = keys->find(k);
    if (!key) return invalid(fmt::format("unknown key '{}'", valid_key_id(k) ? k : "?"));
    std::int64_t when = 0;
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), when);
    if (ec != std::errc() || p != t.data() + t.size())
        return invalid("X-Spam-Signature: bad t=", k);
    if (!same(mac(*key, signed_text(k, when, {f.score, f.status, f.subject, f.message_id, bh})),
              s)) {
        return invalid("signature does not match the verdict, Subject or Message-ID", k);
    }
    // bh is signed: a different body with the signature of another message ends here.
    if (!same(bh, strip_ws(f.body_hash))) return invalid("the body is not the one signed", k);
    if (when > now + kVerdictClockSkew)
        return invalid(fmt::format("signed in the future (t={})", when), k);
    if (max_age > 0 && now - when > max_age) {
        return invalid(fmt::format("signature older than {} s (t={})", max_age, when), k);
    }
    const auto score = parse_score(f.score);
    if (!score) return invalid("signed X-Spam-Score is not a number", k);
    VerdictCheck c;
    c.outcome = VerdictCheck::Outcome::valid;
    c.key_id = k;
    c.score = score;
    c.signed_at = when;
    return c;
}

VerdictCheck verify_message_verdict(const VerdictKeys* keys, std::string_view message,
                                    std::int64_t now, std::int64_t max_age) {
    VerdictFields f;
    std::optional<std::string> signature;
    int n_sig = 0, n_score = 0, n_status = 0;
    bool have_subject = false, have_id = false;

    std::string name, value;  // the header being unfolded
    const auto complete = [&] {
        if (name.empty()) return;
        if (iequals(name, "X-Spam-Signature")) {
            if (++n_sig == 1) signature = value;
        } else if (iequals(name, "X-Spam-Score")) {
            if (++n_score == 1) f.score = value;
        } else if (iequals(name, "X-Spam-Status")) {
            if (++n_status == 1) f.status = value;
        } else if (!have_subject && iequals(name, "Subject")) {
            have_subject = true;
            f.subject = value;
        } else if (!have_id && iequals(name, "Message-ID")) {
            have_id = true;
            f.message_id = value;
        }
        name.clear();
    };
    // The header section ends as Postfix ends it (is_header.c): at an empty line, or at
    // the first line that is neither a header ("NAME[ \t]*:" with NAME printable ASCII)
    // nor a continuation; that line is the body's first.
    std::size_t pos = 0;
    std::size_t body_at = message.size();
    while (pos < message.size()) {
        const std::size_t start = pos;
        const auto nl = message.find('\n', pos);
        std::string_view line =
            message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? message.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            body_at = pos;
            break;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (!name.empty()) value += line;
            continue;
        }
        complete();
        const auto colon = line.find(':');
        std::string_view n = line.substr(0, colon == std::string_view::npos ? 0 : colon);
        while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
        const bool header = !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
            return static_cast<unsigned char>(c) > 32 && static_cast<unsigned char>(c) < 127;
        });
        if (!header) {
            body_at = start;
            break;
        }
        name = std::string(n);
        value = std::string(line.substr(colon + 1));
    }
    complete();

    if (!signature) {
        VerdictCheck c;
        c.reason = n_score > 0 ? "X-Spam-Score without X-Spam-Signature" : "no X-Spam-Signature";
        return c;
    }
    if (n_sig > 1 || n_score > 1 || n_status > 1)
        return invalid("X-Spam-* headers appear more than once");
    if (n_score == 0) return invalid("X-Spam-Signature without X-Spam-Score");
    f.body_hash = body_hash(message.substr(body_at));
    return verify_verdict(keys, *signature, f, now, max_age);
}

const char* to_string(VerdictCheck::Outcome o) {
    switch (o) {
        case VerdictCheck::Outcome::valid:
            return "signed";
        case VerdictCheck::Outcome::unsigned_verdict:
            return "unsigned";
        case VerdictCheck::Outcome::invalid:
            return "invalid";
    }
    return "?";
}

}  // namespace pampero::scan
