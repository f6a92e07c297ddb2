// zone.cpp - rbldnsd zone parsing and the compact lookup structures. See zone.hpp.
#include "pampero/scan/zone.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <stdexcept>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pampero::scan {

namespace {

constexpr std::uint32_t kExcluded = 0xffffffffu;  // raw answer id of an exclusion
constexpr std::uint32_t kDefaultA = 0x7f000002u;  // rbldnsd's default A: 127.0.0.2
constexpr std::size_t kMaxTxt = 255;

struct ParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Value ids stored at the narrowest width that holds them; width 0 = all the same.
struct ValueIds {
    unsigned width = 0;
    std::uint32_t only = 0;
    std::vector<std::uint8_t> data;

    void assign(const std::vector<std::uint32_t>& ids) {
        data.clear();
        width = 0;
        only = ids.empty() ? 0 : ids[0];
        std::uint32_t max = 0;
        bool uniform = true;
        for (auto v : ids) {
            max = std::max(max, v);
            uniform = uniform && v == only;
        }
        if (uniform) return;
        width = max <= 0xff ? 1 : max <= 0xffff ? 2 : 4;
        data.resize(ids.size() * width);
        for (std::size_t i = 0; i < ids.size(); ++i) put(data.data() + i * width, width, ids[i]);
        data.shrink_to_fit();
    }
    static void put(std::uint8_t* p, unsigned w, std::uint32_t v) {
        if (w == 1)
            *p = static_cast<std::uint8_t>(v);
        else if (w == 2) {
            const auto x = static_cast<std::uint16_t>(v);
            std::memcpy(p, &x, 2);
        } else
            std::memcpy(p, &v, 4);
    }
    static std::uint32_t read(const std::uint8_t* p, unsigned w) noexcept {
        if (w == 1) return *p;
        if (w == 2) {
            std::uint16_t x;
            std::memcpy(&x, p, 2);
            return x;
        }
        std::uint32_t x;
        std::memcpy(&x, p, 4);
        return x;
    }
    std::uint32_t get(std::size_t i) const noexcept {
        return width == 0 ? only : read(data.data() + i * width, width);
    }
    std::size_t memory() const { return data.capacity(); }
};

// One level of an IP set: the sorted prefixes of one length (32, 24, 16 or 8 bits).
// With an index, the top `index_bits` of a prefix select a bucket and only the rest is
// stored, in 1 or 2 bytes: a 1,000,000-entry /32 level is 2 MB of keys + a 256 KB index.
struct Ip4Level {
    unsigned bits = 32;
    unsigned index_bits = 0;
    unsigned key_width = 4;
    std::size_t n = 0;
    std::vector<std::uint32_t> index;
    std::vector<std::uint8_t> keys8;
    std::vector<std::uint16_t> keys16;
    std::vector<std::uint32_t> keys32;
    ValueIds values;

    template <typename K>
    static bool search(const std::vector<K>& keys, std::size_t lo, std::size_t hi, std::uint32_t s,
                       std::size_t& pos) noexcept {
        const K* b = keys.data() + lo;
        const K* e = keys.data() + hi;
        const K* it = std::lower_bound(b, e, static_cast<K>(s));
        if (it == e || *it != static_cast<K>(s)) return false;
        pos = static_cast<std::size_t>(it - keys.data());
        return true;
    }

    bool find(std::uint32_t ip, std::size_t& pos) const noexcept {
        if (n == 0) return false;
        const std::uint32_t p = bits == 32 ? ip : ip >> (32 - bits);
        std::size_t lo = 0, hi = n;
        std::uint32_t s = p;
        if (index_bits) {
            const std::uint32_t bucket = p >> (bits - index_bits);
            lo = index[bucket];
            hi = index[bucket + 1];
            if (lo == hi) return false;
            s = p & ((1u << (bits - index_bits)) - 1);
        }
        switch (key_width) {
            case 1:
                return search(keys8, lo, hi, s, pos);
            case 2:
                return search(keys16, lo, hi, s, pos);
            default:
                return search(keys32, lo, hi, s, pos);
        }
    }

    // `prefixes` sorted, unique (already shifted right to `bits` bits).
    void build(unsigned level_bits, const std::vector<std::uint32_t>& prefixes,
               const std::vector<std::uint32_t>& ids) {
        bits = level_bits;
        n = prefixes.size();
        index_bits = 0;
        if (bits == 32 && n >= 4096)
            index_bits = 16;
        else if (bits == 24 && n >= 4096)
            index_bits = 16;
        else if (bits == 16 && n >= 256)
            index_bits = 8;
        const unsigned rest = bits - index_bits;
        key_width = rest <= 8 ? 1 : rest <= 16 ? 2 : 4;
        if (index_bits) {
            index.assign((std::size_t{1} << index_bits) + 1, 0);
            for (auto p : prefixes) ++index[(p >> rest) + 1];
            for (std::size_t i = 1; i < index.size(); ++i) index[i] += index[i - 1];
        }
        const std::uint32_t mask = rest == 32 ? 0xffffffffu : (1u << rest) - 1;
        for (auto p : prefixes) {
            const std::uint32_t s = p & mask;
            if (key_width == 1)
                keys8.push_back(static_cast<std::uint8_t>(s));
            else if (key_width == 2)
                keys16.push_back(static_cast<std::uint16_t>(s));
            else
                keys32.push_back(s);
        }
        keys8.shrink_to_fit();
        keys16.shrink_to_fit();
        keys32.shrink_to_fit();
        values.assign(ids);
    }

    std::size_t memory() const {
        return index.capacity() * 4 + keys8.capacity() + keys16.capacity() * 2 +
               keys32.capacity() * 4 + values.memory();
    }
};

static_assert(std::endian::native == std::endian::little, "name hashing loads words little-endian");

constexpr std::size_t kNameBuf = Zone::kMaxNameLength + 19;    // a name, then 16+ zero bytes
constexpr unsigned kMaxLabels = Zone::kMaxNameLength / 2 + 1;  // "a.a.a...": 127

inline std::uint64_t load8(const void* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
}

// A name's hash is built label by label from the right, so it extends its parent's hash:
// one pass over a name gives the hash of each of its suffixes (the parents a wildcard
// lookup probes). hash_label adds the leftmost label [p, p+n) to its parent's chain value
// (kHashSeed for the root); it reads up to 7 bytes past the label (the buffers have room).
constexpr std::uint64_t kHashSeed = 0x243f6a8885a308d3ull;

inline std::uint64_t hash_label(std::uint64_t h, const char* p, std::size_t n) noexcept {
    for (; n >= 8; p += 8, n -= 8) {
        h = (h ^ load8(p)) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    const std::uint64_t tail = load8(p) & ((std::uint64_t{1} << (n * 8)) - 1);
    h = (h ^ tail ^ (std::uint64_t{n} << 59)) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

// The hash a table uses, from a chain value (murmur3's finalizer).
inline std::uint64_t hash_final(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

// Lowercases buf[0..len) in place (ASCII letters only) and sets bit i of dots[i / 64] for
// each '.' at i; returns how many there are. buf is zero-padded to a multiple of 16 past len
// (zeros stay zeros and are no dots).
inline unsigned lower_and_find_dots(char* buf, std::size_t len, std::uint64_t* dots) noexcept {
#if defined(__SSE2__)
    // Sixteen bytes a step: a signed compare keeps bytes >= 0x80 out of 'A'..'Z', and the dot
    // count adds up per lane (at most 16 steps, so a lane cannot pass 16).
    const __m128i below_a = _mm_set1_epi8('A' - 1), above_z = _mm_set1_epi8('Z' + 1);
    const __m128i to_lower = _mm_set1_epi8(0x20), dot = _mm_set1_epi8('.');
    __m128i count = _mm_setzero_si128();
    for (std::size_t i = 0; i < len; i += 16) {
        auto* p = reinterpret_cast<__m128i*>(buf + i);
        __m128i v = _mm_loadu_si128(p);
        const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(v, below_a), _mm_cmplt_epi8(v, above_z));
        v = _mm_or_si128(v, _mm_and_si128(upper, to_lower));
        _mm_storeu_si128(p, v);
        const __m128i is_dot = _mm_cmpeq_epi8(v, dot);
        count = _mm_sub_epi8(count, is_dot);
        dots[i >> 6] |= std::uint64_t{static_cast<unsigned>(_mm_movemask_epi8(is_dot))} << (i & 63);
    }
    const __m128i sums = _mm_sad_epu8(count, _mm_setzero_si128());
    return static_cast<unsigned>(_mm_cvtsi128_si32(sums) +
                                 _mm_cvtsi128_si32(_mm_unpackhi_epi64(sums, sums)));
#else
    unsigned nd = 0;
    for (std::size_t i = 0; i < len; ++i) {
        char& c = buf[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c == '.') {
            dots[i >> 6] |= std::uint64_t{1} << (i & 63);
            ++nd;
        }
    }
    return nd;
#endif
}

// The position of the last dot before `end` in the bitmap of lower_and_find_dots, or -1.
// Read right to left, end after end, it gives a name's labels as its hash chain takes them.
inline long dot_before(const std::uint64_t* dots, std::size_t end) noexcept {
    std::size_t w = end >> 6;
    std::uint64_t m = dots[w] & ((std::uint64_t{1} << (end & 63)) - 1);
    while (m == 0) {  // the leftmost label, or a word with no dot before end
        if (w == 0) return -1;
        m = dots[--w];
    }
    return static_cast<long>(w * 64 + 63 - static_cast<unsigned>(std::countl_zero(m)));
}

// a[0..n) == b[0..n), both readable 7 bytes past n.
inline bool same_bytes(const unsigned char* a, const char* b, std::size_t n) noexcept {
    std::uint64_t diff = 0;
    for (; n >= 8; a += 8, b += 8, n -= 8) diff |= load8(a) ^ load8(b);
    diff |= (load8(a) ^ load8(b)) & ((std::uint64_t{1} << (n * 8)) - 1);
    return diff == 0;
}

// Memory for the name table: an anonymous mapping that asks for transparent huge pages
// (its random reads would otherwise miss the TLB as often as the cache).
class Block {
  public:
    Block() = default;
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    ~Block() {
        if (base_) munmap(base_, mapped_);
    }
    // Zeroed; throws std::bad_alloc.
    unsigned char* allocate(std::size_t bytes) {
        constexpr std::size_t kHuge = std::size_t{2} << 20;
        size_ = (bytes + 4095) & ~std::size_t{4095};
        mapped_ = size_ >= kHuge ? size_ + kHuge : size_;
        void* p =
            mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        base_ = static_cast<unsigned char*>(p);
        data_ = base_;
        if (size_ >= kHuge) {  // start on a 2 MB boundary; the tail may stay in small pages
            const auto addr = reinterpret_cast<std::uintptr_t>(base_);
            data_ = base_ + (((addr + kHuge - 1) & ~(kHuge - 1)) - addr);
            madvise(data_, size_, MADV_HUGEPAGE);
        }
        return data_;
    }
    std::size_t size() const { return size_; }

  private:
    unsigned char* base_ = nullptr;
    unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mapped_ = 0;
};

// One table for exact and wildcard names. Each distinct name is stored once, in an arena,
// as a record [len][flags][name][exact value id][wildcard value id] (flags: 1 exact,
// 2 wildcard; the ids at the zone's value width, absent when all entries share one value).
// Names are spread over buckets by hash, about kPerBucket a bucket, and a bucket's records
// are adjacent in the arena. The buckets are a compact index (32 bytes each, 4 bytes a
// name, small enough to stay in cache): a bucket holds a 16-bit fingerprint of each of its
// names' hashes, in record order, and where its records start. A fingerprint is 14 bits of
// the hash and the record's flags, so a probe for an exact name passes over names that are
// only wildcards and the other way round. A probe reads one bucket, and only a name whose
// fingerprint matches (the name sought, with the flag sought, or about 1 in 16,000) is read
// from the arena: a name that is not listed costs no arena access.
struct Bucket {
    static constexpr unsigned kSlots = 14;
    static constexpr std::uint16_t kEmpty = 0, kOverflow = 0xffff;
    // Fingerprints of records 0..13, kEmpty past the last one. A bucket of more than 14
    // names has kOverflow in the last slot: records 13.. have no fingerprint.
    std::uint16_t fp[kSlots];
    std::uint32_t off;  // its first record in the arena; the next bucket's off ends it
};
static_assert(sizeof(Bucket) == 32);

struct NameTable {
    static constexpr unsigned char kExact = 1, kWild = 2;
    static constexpr std::size_t kPerBucket = 8;  // ~2% of buckets then have over 14 names
    Block block;                                  // [buckets: nb + 1][arena]
    const Bucket* buckets = nullptr;
    const unsigned char* arena = nullptr;  // offset 0 is no record, so 0 means "absent"
    std::uint64_t nb = 0;                  // buckets; 0 = empty table
    unsigned extra = 0;                    // value id bytes after each name
    std::size_t n = 0;
    unsigned min_labels[2] = {255, 255};  // [exact, wildcard]
    unsigned max_labels[2] = {0, 0};

    std::size_t bucket(std::uint64_t h) const noexcept {
        return static_cast<std::size_t>(((h >> 32) * nb) >> 32);  // fastrange on the high half
    }
    // What a probe compares: the hash's low 16 bits with both flag bits set, never
    // kOverflow (so never kEmpty or kOverflow once a slot's missing flags are filled in).
    static std::uint16_t key(std::uint64_t h) noexcept {
        const auto x = static_cast<std::uint16_t>(h | 3);
        return x == Bucket::kOverflow ? 0xfffb : x;
    }
    // A record's slot: its key with only its own flags (kExact, kWild) in the low bits.
    static std::uint16_t fingerprint(std::uint64_t h, unsigned flags) noexcept {
        return static_cast<std::uint16_t>(key(h) & ~(3u ^ flags));
    }
    const Bucket& bucket_of(std::uint64_t h) const noexcept { return buckets[bucket(h)]; }
    // Bit k set for each slot k of `b` that is the fingerprint of a name of hash h with the
    // flag `flag`: the slot with the other flag bit set equals key(h) (kEmpty and kOverflow
    // never do).
    static unsigned matches(const Bucket& b, std::uint64_t h, unsigned flag) noexcept {
        const auto k = static_cast<short>(key(h));
        const auto other = static_cast<short>(3u ^ flag);
#if defined(__SSE2__)
        // Two compares of 8 lanes and one movemask instead of a loop over the slots.
        const __m128i t = _mm_set1_epi16(k), o = _mm_set1_epi16(other);
        const auto* v = reinterpret_cast<const __m128i*>(&b);
        const __m128i eq = _mm_packs_epi16(
            _mm_cmpeq_epi16(_mm_or_si128(_mm_loadu_si128(v), o), t),
            _mm_cmpeq_epi16(_mm_or_si128(_mm_loadu_si128(v + 1), o), t));  // lanes 14, 15: off
        return static_cast<unsigned>(_mm_movemask_epi8(eq)) & ((1u << Bucket::kSlots) - 1);
#else
        unsigned m = 0;
        for (unsigned s = 0; s < Bucket::kSlots; ++s)
            m |= unsigned{static_cast<std::uint16_t>(b.fp[s] | other) ==
                          static_cast<std::uint16_t>(k)}
                 << s;
        return m;
#endif
    }
    const unsigned char* record(const Bucket& b, unsigned k) const noexcept {
        const unsigned char* p = arena + b.off;
        while (k--) p += 2 + p[0] + extra;
        return p;
    }
    std::uint32_t hit(const unsigned char* p, const char* name, std::size_t len) const noexcept {
        return p[0] == len && same_bytes(p + 2, name, len) ? static_cast<std::uint32_t>(p - arena)
                                                           : 0;
    }

    void prefetch_bucket(std::uint64_t h) const noexcept {
        __builtin_prefetch(&buckets[bucket(h)]);
    }
    // Brings toward the cache the arena lines of the bucket's records, up to the first one
    // whose fingerprint matches (`m`, from matches(); they are read one after the other to
    // find it, so they had better all be on their way); nothing when none matches.
    void prefetch_record(const Bucket& b, unsigned m) const noexcept {
        if (m) prefetch_range(b, static_cast<unsigned>(std::countr_zero(m)));
    }
    // Records 0..k of bucket b: from its start up to the next bucket's, at most k+1 records
    // of up to 40 bytes (most names are shorter; a longer one costs a later miss, no error).
    void prefetch_range(const Bucket& b, unsigned k) const noexcept {
        const char* p = reinterpret_cast<const char*>(arena) + b.off;
        const char* e = reinterpret_cast<const char*>(arena) +
                        std::min<std::uint32_t>((&b)[1].off, b.off + 40 * (k + 1));
        const auto line = [](const char* x) {
            return reinterpret_cast<std::uintptr_t>(x) & ~std::uintptr_t{63};
        };
        for (std::uintptr_t a = line(p); a < line(e) + 64; a += 64)
            __builtin_prefetch(reinterpret_cast<const void*>(a));
    }
    // The record offset of `name` (lowercased, readable 7 bytes past len) when it may have
    // `flag` (an overflowing bucket's names past its slots are compared whatever their
    // flags), or 0.
    std::uint32_t find(const char* name, std::size_t len, std::uint64_t h,
                       unsigned flag) const noexcept {
        const Bucket& b = bucket_of(h);
        for (unsigned m = matches(b, h, flag); m; m &= m - 1) {
            const auto k = static_cast<unsigned>(std::countr_zero(m));
            prefetch_range(b, k);
            if (const auto off = hit(record(b, k), name, len)) return off;
        }
        if (b.fp[Bucket::kSlots - 1] == Bucket::kOverflow) {
            const unsigned char* end = arena + (&b)[1].off;
            for (const unsigned char* p = record(b, Bucket::kSlots - 1); p < end;
                 p += 2 + p[0] + extra) {
                if (const auto off = hit(p, name, len)) return off;
            }
        }
        return 0;
    }
};

}  // namespace

struct Zone::Impl {
    struct Answer {
        std::uint32_t a;
        std::uint32_t txt_off;
        std::uint32_t txt_len;
    };
    std::vector<Answer> answers;
    std::string txt_blob;
    // Value sets: set 0 is "excluded" (no answers); set i is members[begin[i]..begin[i+1]).
    std::vector<std::uint32_t> set_begin{0, 0};
    std::vector<std::uint32_t> set_members;
    Ip4Level levels[4];  // /32, /24, /16, /8: most specific first
    // dnset: records [len][tag][name][value ids] (see NameTable)
    ValueIds vid_all;  // width/only used; data unused
    NameTable table;
    std::string vars[10];
    bool var_set[10] = {};
    std::string base;
    bool has_base = false;

    ZoneMatch match_set(std::uint32_t set, std::string_view entry) const noexcept {
        const std::uint32_t b = set_begin[set], e = set_begin[set + 1];
        if (b == e) return {};
        return {std::span<const std::uint32_t>(set_members.data() + b, e - b), entry};
    }
    // which: 0 exact, 1 wildcard.
    std::uint32_t record_vid(std::uint32_t off, int which) const noexcept {
        if (vid_all.width == 0) return vid_all.only;
        const unsigned char* rec = table.arena + off;
        return ValueIds::read(rec + 2 + rec[0] + which * vid_all.width, vid_all.width);
    }
    unsigned char record_flags(std::uint32_t off) const noexcept { return table.arena[off + 1]; }
    std::string_view record_name(std::uint32_t off) const noexcept {
        return {reinterpret_cast<const char*>(table.arena) + off + 2, table.arena[off]};
    }
};

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

class Parser {
  public:
    Parser(Zone::Impl& z, ZoneFormat format, const std::string& name, Zone::Stats& stats,
           std::size_t name_buckets)
        : z_(z), format_(format), name_(name), stats_(stats), name_buckets_(name_buckets) {}

    void run(std::string_view text) {
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

    void build() {
        if (format_ == ZoneFormat::dnset)
            build_names();
        else
            build_ips();
    }

    std::int64_t expires() const { return expires_; }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        throw ParseError(fmt::format("{}:{}: {}", name_, line_no_, why));
    }
    void warn(const std::string& why) {
        ++stats_.warnings;
        if (stats_.first_warnings.size() < Zone::kMaxWarningsKept) {
            stats_.first_warnings.push_back(fmt::format("{}:{}: {}", name_, line_no_, why));
        }
    }

    void handle(std::string_view line) {
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
    void special(std::string_view s, bool strict) {
        std::size_t w = 0;
        while (w < s.size() && !is_space(s[w])) ++w;
        const std::string_view word = s.substr(0, w);
        std::string_view rest = s.substr(w);
        while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
        if (word.size() == 1 && word[0] >= '0' && word[0] <= '9') {
            const int n = word[0] - '0';
            if (!z_.var_set[n]) {
                z_.vars[n] = std::string(rest.substr(0, kMaxTxt));
                z_.var_set[n] = true;
            }
        } else if (word == "=") {
            if (!z_.has_base) {
                z_.base = std::string(rest.substr(0, kMaxTxt));
                z_.has_base = true;
            }
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

    void maxrange(std::string_view v) {
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

    // yyyy[:-]mm[:-]dd[[:-]hh[[:-]mi[[:-]ss]]]; "0" or "-" = not given.
    static bool parse_stamp(std::string_view s, std::int64_t& out) {
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
        auto num = [&](std::size_t at, std::size_t len) {
            return std::stoi(digits.substr(at, len));
        };
        tm.tm_year = num(0, 4) - 1900;
        tm.tm_mon = num(4, 2) - 1;
        tm.tm_mday = num(6, 2);
        if (digits.size() >= 10) tm.tm_hour = num(8, 2);
        if (digits.size() >= 12) tm.tm_min = num(10, 2);
        if (digits.size() >= 14) tm.tm_sec = num(12, 2);
        if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
            tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59) {
            return false;
        }
        out = static_cast<std::int64_t>(timegm(&tm));
        return true;
    }

    void timestamp(std::string_view v) {
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

    static bool parse_uint(std::string_view s, std::uint64_t max, unsigned& out) {
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

    // --- values --------------------------------------------------------------------
    // `s` starts with ':' (A[:TXT]) or is a bare TXT.
    void parse_value(std::string_view s, std::uint32_t& a, std::string& txt) {
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

    void set_txt(std::string& txt, std::string_view s) {
        if (s.size() > kMaxTxt) {
            warn("TXT truncated to 255 bytes");
            s = s.substr(0, kMaxTxt);
        }
        txt.assign(s);
    }

    // "a.b.c.d" with 1..4 octets of 1..3 decimal digits; returns the count or -1.
    static int split_octets(std::string_view s, std::uint32_t out[4]) {
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

    std::uint32_t intern_answer(std::uint32_t a, const std::string& txt) {
        std::string key(4 + txt.size(), '\0');
        std::memcpy(key.data(), &a, 4);
        std::memcpy(key.data() + 4, txt.data(), txt.size());
        auto [it, inserted] =
            answer_ids_.try_emplace(std::move(key), static_cast<std::uint32_t>(z_.answers.size()));
        if (inserted) {
            z_.answers.push_back({a, static_cast<std::uint32_t>(z_.txt_blob.size()),
                                  static_cast<std::uint32_t>(txt.size())});
            z_.txt_blob += txt;
        }
        return it->second;
    }

    // The answer id for the rest of an entry line (after the key), or the default.
    std::uint32_t entry_answer(std::string_view rest, bool exclusion) {
        while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
        if (exclusion) return kExcluded;  // rbldnsd ignores an exclusion's value
        if (rest.empty() || rest[0] == '#' || rest[0] == ';') {
            if (def_answer_ == kExcluded) def_answer_ = intern_answer(def_a_, def_txt_);
            return def_answer_;
        }
        if (format_ == ZoneFormat::ip4tset)
            fail("ip4tset entries take no value (use one ':A:TXT' line)");
        std::uint32_t a = 0;
        std::string txt;
        parse_value(rest, a, txt);
        return intern_answer(a, txt);
    }

    // --- IP entries ------------------------------------------------------------------
    void ip_entry(std::string_view line) {
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
        add_range(lo, hi, aid);
    }

    // rbldnsd's ip4set keys; false = unparseable. A CIDR with host bits set is parseable
    // but skipped with a warning (lo > hi signals that to the caller... handled here).
    bool parse_range(std::string_view s, std::uint32_t& lo, std::uint32_t& hi) {
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

    void add_range(std::uint32_t lo, std::uint32_t hi, std::uint32_t aid) {
        if (lo > hi) {  // skipped CIDR
            --stats_.entries;
            if (aid == kExcluded) --stats_.exclusions;
            return;
        }
        std::uint64_t a = lo;
        const std::uint64_t h = hi;
        while (a <= h) {
            int level = 0;
            std::uint64_t step = 1;
            if ((a & 0xffffff) == 0 && a + 0xffffff <= h) {
                level = 3;
                step = 1u << 24;
            } else if ((a & 0xffff) == 0 && a + 0xffff <= h) {
                level = 2;
                step = 1u << 16;
            } else if ((a & 0xff) == 0 && a + 0xff <= h) {
                level = 1;
                step = 1u << 8;
            }
            raw_ip_[level].push_back({static_cast<std::uint32_t>(a), aid});
            a += step;
        }
    }

    // --- dnset entries ---------------------------------------------------------------
    void name_entry(std::string_view line) {
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
        const auto off = static_cast<std::uint32_t>(raw_names_.size());
        for (char c : key) raw_names_ += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (raw_names_.size() > 0xffffffffu) fail("zone too large");
        const auto len = static_cast<std::uint16_t>(key.size());
        if (exact) raw_dn_.push_back({off, len, 0, aid});
        if (wild) raw_dn_.push_back({off, len, 1, aid});
    }

    static bool valid_name(std::string_view s) {
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

    // --- build -------------------------------------------------------------------------
    std::uint32_t set_for(std::vector<std::uint32_t>& group) {
        std::sort(group.begin(), group.end());
        group.erase(std::unique(group.begin(), group.end()), group.end());
        if (group.back() == kExcluded) return 0;  // an exclusion beats every listing
        if (group.size() == 1) {
            if (single_set_.size() < z_.answers.size()) single_set_.resize(z_.answers.size(), 0);
            auto& s = single_set_[group[0]];
            if (s == 0) s = new_set(group);
            return s;
        }
        auto [it, inserted] = multi_set_.try_emplace(group, 0);
        if (inserted) it->second = new_set(group);
        return it->second;
    }
    std::uint32_t new_set(const std::vector<std::uint32_t>& members) {
        z_.set_members.insert(z_.set_members.end(), members.begin(), members.end());
        z_.set_begin.push_back(static_cast<std::uint32_t>(z_.set_members.size()));
        return static_cast<std::uint32_t>(z_.set_begin.size() - 2);
    }

    void build_ips() {
        static constexpr unsigned kBits[4] = {32, 24, 16, 8};
        std::vector<std::uint32_t> group;
        for (int lv = 0; lv < 4; ++lv) {
            auto& raw = raw_ip_[lv];
            std::sort(raw.begin(), raw.end(), [](const RawIp& x, const RawIp& y) {
                return x.key != y.key ? x.key < y.key : x.aid < y.aid;
            });
            std::vector<std::uint32_t> prefixes, ids;
            for (std::size_t i = 0; i < raw.size();) {
                std::size_t j = i;
                group.clear();
                while (j < raw.size() && raw[j].key == raw[i].key) group.push_back(raw[j++].aid);
                const unsigned b = kBits[lv];
                prefixes.push_back(b == 32 ? raw[i].key : raw[i].key >> (32 - b));
                ids.push_back(set_for(group));
                i = j;
            }
            std::vector<RawIp>().swap(raw);
            z_.levels[lv].build(kBits[lv], prefixes, ids);
        }
    }

    void build_names() {
        const std::string& blob = raw_names_;
        auto name_of = [&blob](const RawName& r) {
            return std::string_view(blob.data() + r.off, r.len);
        };
        std::sort(raw_dn_.begin(), raw_dn_.end(), [&](const RawName& x, const RawName& y) {
            const int c = name_of(x).compare(name_of(y));
            if (c != 0) return c < 0;
            return x.table != y.table ? x.table < y.table : x.aid < y.aid;
        });
        // One record per distinct name, with the value set of each table it is in.
        struct Rec {
            std::size_t first;
            std::uint32_t set[2];
            unsigned char flags;
        };
        std::vector<Rec> recs;
        std::vector<std::uint32_t> group, ids;
        for (std::size_t i = 0; i < raw_dn_.size();) {
            Rec rec{i, {0, 0}, 0};
            std::size_t j = i;
            while (j < raw_dn_.size() && name_of(raw_dn_[j]) == name_of(raw_dn_[i])) {
                const std::uint8_t t = raw_dn_[j].table;
                group.clear();
                while (j < raw_dn_.size() && raw_dn_[j].table == t &&
                       name_of(raw_dn_[j]) == name_of(raw_dn_[i])) {
                    group.push_back(raw_dn_[j++].aid);
                }
                rec.set[t] = set_for(group);
                rec.flags |= t == 0 ? NameTable::kExact : NameTable::kWild;
                ids.push_back(rec.set[t]);
            }
            recs.push_back(rec);
            i = j;
        }
        z_.vid_all.assign(ids);
        z_.vid_all.data.clear();
        z_.vid_all.data.shrink_to_fit();
        NameTable& t = z_.table;
        const unsigned w = z_.vid_all.width;
        t.extra = 2 * w;
        t.n = recs.size();
        t.nb = name_buckets_ ? name_buckets_
                             : std::max<std::size_t>(1, recs.size() / NameTable::kPerBucket);
        if (recs.empty()) t.nb = 0;
        // Hash every name, count each bucket's bytes, then lay the records out bucket by bucket.
        std::vector<std::uint64_t> hashes(recs.size());
        std::vector<std::uint64_t> bytes(t.nb + 1, 0);
        char buf[kNameBuf] = {};
        for (std::size_t k = 0; k < recs.size(); ++k) {
            const RawName& raw = raw_dn_[recs[k].first];
            std::memcpy(buf, blob.data() + raw.off, raw.len);
            std::memset(buf + raw.len, 0, 16);
            std::uint64_t dots[4] = {0, 0, 0, 0};  // the name is lowercase already
            const unsigned nd = lower_and_find_dots(buf, raw.len, dots);
            std::uint64_t h = kHashSeed;
            std::size_t end = raw.len;
            for (unsigned j = 0; j <= nd; ++j) {  // labels right to left, as prepare() does
                const std::size_t s = static_cast<std::size_t>(dot_before(dots, end) + 1);
                h = hash_label(h, buf + s, end - s);
                end = s - 1;
            }
            hashes[k] = hash_final(h);
            bytes[t.bucket(hashes[k]) + 1] += 2 + raw.len + t.extra;
            const unsigned labels = nd + 1;
            for (int f = 0; f < 2; ++f) {
                if (!(recs[k].flags & (1 << f))) continue;
                t.min_labels[f] = std::min(t.min_labels[f], labels);
                t.max_labels[f] = std::max(t.max_labels[f], labels);
            }
        }
        bytes[0] = 1;  // offset 0 is "absent"
        for (std::size_t b = 1; b < bytes.size(); ++b) bytes[b] += bytes[b - 1];
        const std::uint64_t total = bytes.back() + 8;  // + 8: word reads past the last record
        if (total > 0xffffffffu) throw ParseError(fmt::format("{}: zone too large", name_));
        const std::size_t index_bytes = (t.nb + 1) * sizeof(Bucket);
        unsigned char* mem = t.block.allocate(index_bytes + total);
        auto* buckets = reinterpret_cast<Bucket*>(mem);  // zeroed: every slot kEmpty
        unsigned char* arena = mem + index_bytes;
        for (std::size_t b = 0; b <= t.nb; ++b)
            buckets[b].off = static_cast<std::uint32_t>(bytes[b]);
        std::vector<std::uint32_t> filled(t.nb, 0);
        for (std::size_t k = 0; k < recs.size();
             ++k) {  // bytes[b]: where bucket b's next record goes
            const RawName& raw = raw_dn_[recs[k].first];
            const std::size_t b = t.bucket(hashes[k]);
            unsigned char* rec = arena + bytes[b];
            rec[0] = static_cast<unsigned char>(raw.len);
            rec[1] = recs[k].flags;
            std::memcpy(rec + 2, blob.data() + raw.off, raw.len);
            for (unsigned f = 0; f < 2 && w; ++f)
                ValueIds::put(rec + 2 + raw.len + f * w, w, recs[k].set[f]);
            bytes[b] += 2 + raw.len + t.extra;
            const std::uint32_t slot = filled[b]++;
            if (slot < Bucket::kSlots)
                buckets[b].fp[slot] = NameTable::fingerprint(hashes[k], recs[k].flags);
            else
                buckets[b].fp[Bucket::kSlots - 1] = Bucket::kOverflow;
        }
        t.buckets = buckets;
        t.arena = arena;
        std::vector<RawName>().swap(raw_dn_);
        std::string().swap(raw_names_);
    }

    struct RawIp {
        std::uint32_t key;
        std::uint32_t aid;
    };
    struct RawName {
        std::uint32_t off;
        std::uint16_t len;
        std::uint8_t table;  // 0 exact, 1 wildcard
        std::uint32_t aid;
    };

    Zone::Impl& z_;
    ZoneFormat format_;
    const std::string& name_;
    Zone::Stats& stats_;
    std::size_t name_buckets_ = 0;
    std::size_t line_no_ = 0;
    std::uint32_t def_a_ = kDefaultA;
    std::string def_txt_;
    std::uint32_t def_answer_ = kExcluded;
    bool defaults_seen_ = false;
    std::uint64_t maxrange_ = 0;
    std::int64_t expires_ = 0;
    std::unordered_map<std::string, std::uint32_t> answer_ids_;
    std::vector<std::uint32_t> single_set_;
    std::map<std::vector<std::uint32_t>, std::uint32_t> multi_set_;
    std::vector<RawIp> raw_ip_[4];
    std::vector<RawName> raw_dn_;
    std::string raw_names_;
};

}  // namespace

Zone::Zone() : impl_(std::make_unique<Impl>()) {}
Zone::~Zone() = default;

Result<std::shared_ptr<const Zone>> Zone::parse(std::string_view text, ZoneFormat format,
                                                const std::string& name) {
    return parse(text, format, name, Options{});
}

Result<std::shared_ptr<const Zone>> Zone::parse(std::string_view text, ZoneFormat format,
                                                const std::string& name, const Options& options) {
    std::shared_ptr<Zone> z(new Zone());
    z->format_ = format;
    try {
        Parser p(*z->impl_, format, name, z->stats_, options.name_buckets);
        p.run(text);
        p.build();
        z->stats_.expires = p.expires();
    } catch (const ParseError& e) {
        return Error::config(e.what());
    } catch (const std::bad_alloc&) {
        return Error::temporary(fmt::format("{}: out of memory loading the zone", name));
    }
    Impl& m = *z->impl_;
    m.answers.shrink_to_fit();
    m.txt_blob.shrink_to_fit();
    m.set_begin.shrink_to_fit();
    m.set_members.shrink_to_fit();
    std::size_t mem = m.answers.capacity() * sizeof(Impl::Answer) + m.txt_blob.capacity() +
                      (m.set_begin.capacity() + m.set_members.capacity()) * 4 +
                      m.table.block.size();
    for (const auto& l : m.levels) mem += l.memory();
    z->stats_.memory = mem;
    return std::shared_ptr<const Zone>(std::move(z));
}

Result<std::shared_ptr<const Zone>> Zone::load_file(const std::string& path, ZoneFormat format) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return Error::temporary(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0) return Error::temporary(fmt::format("{}: cannot read", path));
    if (static_cast<std::uint64_t>(size) > kMaxFileSize) {
        return Error::config(fmt::format("{}: larger than {} bytes", path, kMaxFileSize));
    }
    in.seekg(0);
    std::string text(static_cast<std::size_t>(size), '\0');
    if (!in.read(text.data(), size)) return Error::temporary(fmt::format("{}: read error", path));
    return parse(text, format, path);
}

ZoneMatch Zone::lookup_ip(std::uint32_t ip) const noexcept {
    if (format_ == ZoneFormat::dnset) {
        char buf[kMaxIpv4Text];
        return lookup_name(std::string_view(buf, reversed_ipv4(ip, buf)));
    }
    const Impl& m = *impl_;
    for (const auto& level : m.levels) {
        std::size_t pos = 0;
        if (level.find(ip, pos)) return m.match_set(level.values.get(pos), {});
    }
    return {};
}

namespace {

// A name prepared for a lookup: lowercased (one trailing dot dropped) and zero-padded, and
// the suffixes to probe, in order: the name itself when an exact entry can have its label
// count, then each parent a wildcard entry can be, most specific first.
struct Query {
    std::size_t len = 0;
    unsigned count = 0;           // candidates
    bool exact = false;           // candidate 0 is the name itself, for exact entries
    std::uint8_t at[kMaxLabels];  // where each candidate starts in buf
    std::uint64_t hash[kMaxLabels];
    char buf[kNameBuf];
};

// Fills q for `name`; q.count is 0 when no entry can match (empty or too long name, no
// candidate label count, empty labels).
void prepare(const NameTable& t, std::string_view name, Query& q) noexcept {
    q.count = 0;
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > Zone::kMaxNameLength || t.nb == 0) return;
    const std::size_t len = name.size();
    std::memcpy(q.buf, name.data(), len);
    std::memset(q.buf + len, 0, 16);
    q.len = len;
    std::uint64_t dots[4] = {0, 0, 0, 0};  // bit i: a dot at i (names of up to 256 octets)
    const unsigned nd = lower_and_find_dots(q.buf, len, dots);
    // A listed name has at most kMaxLabels labels (none empty, 253 octets); more dots than
    // that mean empty labels ("a....b"), which no entry can match.
    if (nd >= kMaxLabels) return;
    const unsigned labels = nd + 1;
    q.exact = labels >= t.min_labels[0] && labels <= t.max_labels[0];
    // A wildcard entry matches from one label up: parents of wild_lo..wild_hi labels.
    const unsigned wild_hi = std::min(labels - 1, t.max_labels[1]);
    const unsigned wild_lo = std::max(t.min_labels[1], 1u);
    const unsigned wild = wild_hi >= wild_lo ? wild_hi - wild_lo + 1 : 0;
    const unsigned top = q.exact ? labels : wild ? wild_hi : 0;
    const unsigned first = q.exact ? 1 : 0;
    // One right-to-left pass: the chain value after j labels is the hash of the suffix of
    // j labels.
    std::uint64_t h = kHashSeed;
    std::size_t end = len;
    for (unsigned j = 1; j <= top; ++j) {
        const std::size_t s = static_cast<std::size_t>(dot_before(dots, end) + 1);
        h = hash_label(h, q.buf + s, end - s);
        end = s - 1;
        if (j >= wild_lo && j <= wild_hi) {
            const unsigned c = first + (wild_hi - j);
            q.hash[c] = hash_final(h);
            q.at[c] = static_cast<std::uint8_t>(s);
        }
    }
    if (q.exact) {
        q.hash[0] = hash_final(h);
        q.at[0] = 0;
    }
    q.count = first + wild;
}

// Brings the buckets of q's first candidates toward the cache.
inline void prefetch_buckets(const NameTable& t, const Query& q) noexcept {
    for (unsigned c = 0; c < q.count && c < 8; ++c) t.prefetch_bucket(q.hash[c]);
}
// The flag an entry for candidate c must have: an exact entry decides for the name itself,
// a wildcard entry for the names under it.
inline unsigned flag_sought(const Query& q, unsigned c) noexcept {
    return c == 0 && q.exact ? NameTable::kExact : NameTable::kWild;
}

// Then the records their fingerprints point to.
inline void prefetch_records(const NameTable& t, const Query& q) noexcept {
    for (unsigned c = 0; c < q.count && c < 8; ++c) {
        const Bucket& b = t.bucket_of(q.hash[c]);
        t.prefetch_record(b, NameTable::matches(b, q.hash[c], flag_sought(q, c)));
    }
}

ZoneMatch probe(const Zone::Impl& m, const Query& q) noexcept {
    const NameTable& t = m.table;
    for (unsigned c = 0; c < q.count; ++c) {
        const std::size_t s = q.at[c];
        const unsigned flag = flag_sought(q, c);
        const std::uint32_t off = t.find(q.buf + s, q.len - s, q.hash[c], flag);
        if (off != 0 && (m.record_flags(off) & flag)) {
            return m.match_set(m.record_vid(off, flag == NameTable::kExact ? 0 : 1),
                               m.record_name(off));
        }
    }
    return {};
}

}  // namespace

ZoneMatch Zone::lookup_name(std::string_view name) const noexcept {
    if (format_ != ZoneFormat::dnset) return {};
    const Impl& m = *impl_;
    Query q;
    prepare(m.table, name, q);
    if (q.count > 1) prefetch_buckets(m.table, q);  // the parents' load while the name's is scanned
    return probe(m, q);
}

void Zone::lookup_names(std::span<const std::string_view> names,
                        std::span<ZoneMatch> out) const noexcept {
    const std::size_t count = std::min(names.size(), out.size());
    if (format_ != ZoneFormat::dnset) {
        for (std::size_t i = 0; i < count; ++i) out[i] = {};
        return;
    }
    // A software pipeline: name i is prepared and its candidates' buckets prefetched
    // (stage A) kProbe steps before it is probed (stage C), and the records its fingerprints
    // point to are prefetched (stage B) kProbe - kRecords steps before that, so each prefetch
    // has the work of several other names to land instead of being waited for at once.
    const Impl& m = *impl_;
    // Measured on the 500,000-name bench (2-8 ahead, 6-15 behind, rings of 8 and 16): the
    // bucket index mostly stays in the last-level cache, so 2 steps are enough for a
    // bucket; records come from DRAM (200-300 ns) and get 4 steps.
    constexpr std::size_t kRecords = 2, kProbe = 6;
    constexpr std::size_t kRing = 8;  // > kProbe; a power of two
    static_assert(kRecords < kProbe && kProbe < kRing && std::has_single_bit(kRing));
    Query q[kRing];
    for (std::size_t i = 0; i < count + kProbe; ++i) {
        if (i < count) {
            prepare(m.table, names[i], q[i % kRing]);
            prefetch_buckets(m.table, q[i % kRing]);
        }
        if (i >= kRecords && i - kRecords < count)
            prefetch_records(m.table, q[(i - kRecords) % kRing]);
        if (i >= kProbe) out[i - kProbe] = probe(m, q[(i - kProbe) % kRing]);
    }
}

std::uint32_t Zone::answer_a(std::uint32_t id) const noexcept {
    return impl_->answers[id].a;
}

std::string Zone::answer_txt(std::uint32_t id, std::string_view subject) const {
    const Impl& m = *impl_;
    const auto& a = m.answers[id];
    const std::string_view raw(m.txt_blob.data() + a.txt_off, a.txt_len);
    std::string out;
    auto expand = [&](std::string_view t, std::string_view base_text, bool in_base) {
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] != '$') {
                out += t[i];
                continue;
            }
            const char c = i + 1 < t.size() ? t[i + 1] : '\0';
            if (c == '$') {
                out += '$';
                ++i;
            } else if (c >= '0' && c <= '9') {
                out += m.vars[c - '0'];
                ++i;
            } else if (c == '=' && in_base) {
                out += base_text;
                ++i;
            } else {
                out += subject;
            }
        }
    };
    if (m.has_base && !(raw.size() > 0 && raw[0] == '=')) {
        expand(m.base, raw.empty() ? subject : raw, true);
    } else if (!raw.empty()) {
        expand(m.has_base ? raw.substr(1) : raw, {}, false);
    }
    if (out.size() > kMaxTxt) out.resize(kMaxTxt);
    return out;
}

}  // namespace pampero::scan
