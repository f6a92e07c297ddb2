// zone_name_table.cpp - the name table: its build and its lookups. See zone_name_table.hpp.
#include "zone_name_table.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

#include "zone_value_ids.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pampero::scan::zone_detail {

namespace {

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

}  // namespace

struct NameTable::Bucket {
    static constexpr unsigned kSlots = 14;
    static constexpr std::uint16_t kEmpty = 0, kOverflow = 0xffff;
    // Fingerprints of records 0..13, kEmpty past the last one. A bucket of more than 14
    // names has kOverflow in the last slot: records 13.. have no fingerprint.
    std::uint16_t fp[kSlots];
    std::uint32_t off;  // its first record in the arena; the next bucket's off ends it
};
static_assert(sizeof(NameTable::Bucket) == 32);

namespace {

// What a probe compares: the hash's low 16 bits with both flag bits set, never
// kOverflow (so never kEmpty or kOverflow once a slot's missing flags are filled in).
inline std::uint16_t probe_key(std::uint64_t h) noexcept {
    const auto x = static_cast<std::uint16_t>(h | 3);
    return x == NameTable::Bucket::kOverflow ? 0xfffb : x;
}
// A record's slot: its key with only its own flags (kExact, kWild) in the low bits.
inline std::uint16_t fingerprint(std::uint64_t h, unsigned flags) noexcept {
    return static_cast<std::uint16_t>(probe_key(h) & ~(3u ^ flags));
}

}  // namespace

// --- the table -------------------------------------------------------------------------

NameTable::Mapping::Mapping(Mapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      mapped_(std::exchange(o.mapped_, 0)),
      size_(std::exchange(o.size_, 0)) {}

NameTable::Mapping& NameTable::Mapping::operator=(Mapping&& o) noexcept {
    if (this != &o) {
        if (base_) munmap(base_, mapped_);
        base_ = std::exchange(o.base_, nullptr);
        mapped_ = std::exchange(o.mapped_, 0);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

NameTable::Mapping::~Mapping() {
    if (base_) munmap(base_, mapped_);
}

// Transparent huge pages: the table's random reads would otherwise miss the TLB as often
// as the cache.
unsigned char* NameTable::Mapping::allocate(std::size_t bytes) {
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    if (base_) munmap(base_, mapped_);
    base_ = nullptr;
    size_ = (bytes + 4095) & ~std::size_t{4095};
    mapped_ = size_ >= kHuge ? size_ + kHuge : size_;
    void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        mapped_ = size_ = 0;
        throw std::bad_alloc();
    }
    base_ = static_cast<unsigned char*>(p);
    unsigned char* data = base_;
    if (size_ >= kHuge) {  // start on a 2 MB boundary; the tail may stay in small pages
        const auto addr = reinterpret_cast<std::uintptr_t>(base_);
        data = base_ + (((addr + kHuge - 1) & ~(kHuge - 1)) - addr);
        madvise(data, size_, MADV_HUGEPAGE);
    }
    return data;
}

inline std::size_t NameTable::bucket(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(((h >> 32) * nb_) >> 32);  // fastrange on the high half
}

inline const NameTable::Bucket& NameTable::bucket_of(std::uint64_t h) const noexcept {
    return buckets_[bucket(h)];
}

// Bit k set for each slot k of `b` that is the fingerprint of a name of hash h with the
// flag `flag`: the slot with the other flag bit set equals probe_key(h) (kEmpty and kOverflow
// never do).
inline unsigned NameTable::matches(const Bucket& b, std::uint64_t h, unsigned flag) noexcept {
    const auto k = static_cast<short>(probe_key(h));
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
        m |= unsigned{static_cast<std::uint16_t>(b.fp[s] | other) == static_cast<std::uint16_t>(k)}
             << s;
    return m;
#endif
}

inline const unsigned char* NameTable::record(const Bucket& b, unsigned k) const noexcept {
    const unsigned char* p = arena_ + b.off;
    while (k--) p += 2 + p[0] + extra_;
    return p;
}

inline std::uint32_t NameTable::hit(const unsigned char* p, const char* name,
                                    std::size_t len) const noexcept {
    return p[0] == len && same_bytes(p + 2, name, len) ? static_cast<std::uint32_t>(p - arena_) : 0;
}

inline void NameTable::prefetch_bucket(std::uint64_t h) const noexcept {
    __builtin_prefetch(&buckets_[bucket(h)]);
}

// Brings toward the cache the arena lines of the bucket's records, up to the first one
// whose fingerprint matches (`m`, from matches(); they are read one after the other to
// find it, so they had better all be on their way); nothing when none matches.
inline void NameTable::prefetch_record(const Bucket& b, unsigned m) const noexcept {
    if (m) prefetch_range(b, static_cast<unsigned>(std::countr_zero(m)));
}

// Records 0..k of bucket b: from its start up to the next bucket's, at most k+1 records
// of up to 40 bytes (most names are shorter; a longer one costs a later miss, no error).
inline void NameTable::prefetch_range(const Bucket& b, unsigned k) const noexcept {
    const char* p = reinterpret_cast<const char*>(arena_) + b.off;
    const char* e = reinterpret_cast<const char*>(arena_) +
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
inline std::uint32_t NameTable::find(const char* name, std::size_t len, std::uint64_t h,
                                     unsigned flag) const noexcept {
    const Bucket& b = bucket_of(h);
    for (unsigned m = matches(b, h, flag); m; m &= m - 1) {
        const auto k = static_cast<unsigned>(std::countr_zero(m));
        prefetch_range(b, k);
        if (const auto off = hit(record(b, k), name, len)) return off;
    }
    if (b.fp[Bucket::kSlots - 1] == Bucket::kOverflow) {
        const unsigned char* end = arena_ + (&b)[1].off;
        for (const unsigned char* p = record(b, Bucket::kSlots - 1); p < end;
             p += 2 + p[0] + extra_) {
            if (const auto off = hit(p, name, len)) return off;
        }
    }
    return 0;
}

// The value id of the record at `off` for `which` (0 exact, 1 wildcard).
inline std::uint32_t NameTable::record_value(std::uint32_t off, unsigned which) const noexcept {
    if (width_ == 0) return only_;
    const unsigned char* rec = arena_ + off;
    return ValueIds::read(rec + 2 + rec[0] + which * width_, width_);
}

// --- lookups -----------------------------------------------------------------------------

// A name prepared for a lookup: lowercased (one trailing dot dropped) and zero-padded, and
// the suffixes to probe, in order: the name itself when an exact entry can have its label
// count, then each parent a wildcard entry can be, most specific first.
struct NameTable::Query {
    std::size_t len = 0;
    unsigned count = 0;           // candidates
    bool exact = false;           // candidate 0 is the name itself, for exact entries
    std::uint8_t at[kMaxLabels];  // where each candidate starts in buf
    std::uint64_t hash[kMaxLabels];
    char buf[kNameBuf];
};

// Fills q for `name`; q.count is 0 when no entry can match (empty or too long name, no
// candidate label count, empty labels).
void NameTable::prepare(std::string_view name, Query& q) const noexcept {
    q.count = 0;
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > Zone::kMaxNameLength || nb_ == 0) return;
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
    q.exact = labels >= min_labels_[0] && labels <= max_labels_[0];
    // A wildcard entry matches from one label up: parents of wild_lo..wild_hi labels.
    const unsigned wild_hi = std::min(labels - 1, max_labels_[1]);
    const unsigned wild_lo = std::max(min_labels_[1], 1u);
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
inline void NameTable::prefetch_buckets(const Query& q) const noexcept {
    for (unsigned c = 0; c < q.count && c < 8; ++c) prefetch_bucket(q.hash[c]);
}

namespace {

// The flag an entry for candidate c must have: an exact entry decides for the name itself,
// a wildcard entry for the names under it.
template <typename Q>
inline unsigned flag_sought(const Q& q, unsigned c) noexcept {
    return c == 0 && q.exact ? NameTable::kExact : NameTable::kWild;
}

}  // namespace

// Then the records their fingerprints point to.
inline void NameTable::prefetch_records(const Query& q) const noexcept {
    for (unsigned c = 0; c < q.count && c < 8; ++c) {
        const Bucket& b = bucket_of(q.hash[c]);
        prefetch_record(b, matches(b, q.hash[c], flag_sought(q, c)));
    }
}

ZoneMatch NameTable::probe(const Query& q, const ZoneAnswers& answers) const noexcept {
    for (unsigned c = 0; c < q.count; ++c) {
        const std::size_t s = q.at[c];
        const unsigned flag = flag_sought(q, c);
        const std::uint32_t off = find(q.buf + s, q.len - s, q.hash[c], flag);
        if (off != 0 && (arena_[off + 1] & flag)) {
            return answers.match_set(
                record_value(off, flag == kExact ? 0 : 1),
                {reinterpret_cast<const char*>(arena_) + off + 2, arena_[off]});
        }
    }
    return {};
}

ZoneMatch NameTable::lookup(std::string_view name, const ZoneAnswers& answers) const noexcept {
    Query q;
    prepare(name, q);
    if (q.count > 1) prefetch_buckets(q);  // the parents' load while the name's is scanned
    return probe(q, answers);
}

void NameTable::lookup_many(std::span<const std::string_view> names, std::span<ZoneMatch> out,
                            const ZoneAnswers& answers) const noexcept {
    const std::size_t count = std::min(names.size(), out.size());
    // A software pipeline: name i is prepared and its candidates' buckets prefetched
    // (stage A) kProbe steps before it is probed (stage C), and the records its fingerprints
    // point to are prefetched (stage B) kProbe - kRecords steps before that, so each prefetch
    // has the work of several other names to land instead of being waited for at once.
    // Measured on the 500,000-name bench (2-8 ahead, 6-15 behind, rings of 8 and 16): the
    // bucket index mostly stays in the last-level cache, so 2 steps are enough for a
    // bucket; records come from DRAM (200-300 ns) and get 4 steps.
    constexpr std::size_t kRecords = 2, kProbe = 6;
    constexpr std::size_t kRing = 8;  // > kProbe; a power of two
    static_assert(kRecords < kProbe && kProbe < kRing && std::has_single_bit(kRing));
    Query q[kRing];
    for (std::size_t i = 0; i < count + kProbe; ++i) {
        if (i < count) {
            prepare(names[i], q[i % kRing]);
            prefetch_buckets(q[i % kRing]);
        }
        if (i >= kRecords && i - kRecords < count) prefetch_records(q[(i - kRecords) % kRing]);
        if (i >= kProbe) out[i - kProbe] = probe(q[(i - kProbe) % kRing], answers);
    }
}

// --- the build ---------------------------------------------------------------------------

void NameTableBuilder::add(std::string_view name, NameKind kind, std::uint32_t answer) {
    if (name.empty() || name.size() > Zone::kMaxNameLength)
        throw std::invalid_argument("name table: name of 0 or more than 253 bytes");
    const auto off = static_cast<std::uint32_t>(names_.size());
    if (names_.size() + name.size() > 0xffffffffu) throw std::length_error("zone too large");
    // The table compares bytes: lowercase now, as a lookup lowercases the name it seeks.
    for (char c : name) names_ += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    raw_.push_back({off, static_cast<std::uint16_t>(name.size()), kind, answer});
}

NameTable NameTableBuilder::build(ZoneAnswersBuilder& answers) {
    const std::string& blob = names_;
    auto name_of = [&blob](const Raw& r) { return std::string_view(blob.data() + r.off, r.len); };
    std::sort(raw_.begin(), raw_.end(), [&](const Raw& x, const Raw& y) {
        const int c = name_of(x).compare(name_of(y));
        if (c != 0) return c < 0;
        return x.kind != y.kind ? x.kind < y.kind : x.aid < y.aid;
    });
    // One record per distinct name, with the value set of each kind it is listed as.
    struct Rec {
        std::size_t first;  // in raw_
        std::uint32_t set[2];
        unsigned char flags;
    };
    std::vector<Rec> recs;
    std::vector<std::uint32_t> group, ids;
    for (std::size_t i = 0; i < raw_.size();) {
        Rec rec{i, {0, 0}, 0};
        std::size_t j = i;
        while (j < raw_.size() && name_of(raw_[j]) == name_of(raw_[i])) {
            const NameKind kind = raw_[j].kind;
            group.clear();
            while (j < raw_.size() && raw_[j].kind == kind &&
                   name_of(raw_[j]) == name_of(raw_[i])) {
                group.push_back(raw_[j++].aid);
            }
            const auto k = static_cast<unsigned>(kind);
            rec.set[k] = answers.value_set(group);
            rec.flags |= kind == NameKind::exact ? NameTable::kExact : NameTable::kWild;
            ids.push_back(rec.set[k]);
        }
        recs.push_back(rec);
        i = j;
    }
    NameTable t;
    {
        ValueIds width;
        width.choose_width(ids);
        t.width_ = width.width;
        t.only_ = width.only;
    }
    const unsigned w = t.width_;
    t.extra_ = 2 * w;
    t.n_ = recs.size();
    t.nb_ = options_.buckets ? options_.buckets
                             : std::max<std::size_t>(1, recs.size() / NameTable::kPerBucket);
    if (recs.empty()) t.nb_ = 0;
    // Hash every name, count each bucket's bytes, then lay the records out bucket by bucket.
    std::vector<std::uint64_t> hashes(recs.size());
    std::vector<std::uint64_t> bytes(t.nb_ + 1, 0);
    char buf[kNameBuf] = {};
    for (std::size_t k = 0; k < recs.size(); ++k) {
        const Raw& raw = raw_[recs[k].first];
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
        bytes[t.bucket(hashes[k]) + 1] += 2 + raw.len + t.extra_;
        const unsigned labels = nd + 1;
        for (int f = 0; f < 2; ++f) {
            if (!(recs[k].flags & (1 << f))) continue;
            t.min_labels_[f] = std::min(t.min_labels_[f], labels);
            t.max_labels_[f] = std::max(t.max_labels_[f], labels);
        }
    }
    bytes[0] = 1;  // offset 0 is "absent"
    for (std::size_t b = 1; b < bytes.size(); ++b) bytes[b] += bytes[b - 1];
    const std::uint64_t total = bytes.back() + 8;  // + 8: word reads past the last record
    if (total > 0xffffffffu) throw std::length_error("zone too large");
    using Bucket = NameTable::Bucket;
    const std::size_t index_bytes = (t.nb_ + 1) * sizeof(Bucket);
    unsigned char* mem = t.mapping_.allocate(index_bytes + total);
    auto* buckets = reinterpret_cast<Bucket*>(mem);  // zeroed: every slot kEmpty
    unsigned char* arena = mem + index_bytes;
    for (std::size_t b = 0; b <= t.nb_; ++b) buckets[b].off = static_cast<std::uint32_t>(bytes[b]);
    std::vector<std::uint32_t> filled(t.nb_, 0);
    for (std::size_t k = 0; k < recs.size(); ++k) {  // bytes[b]: where bucket b's next record goes
        const Raw& raw = raw_[recs[k].first];
        const std::size_t b = t.bucket(hashes[k]);
        unsigned char* rec = arena + bytes[b];
        rec[0] = static_cast<unsigned char>(raw.len);
        rec[1] = recs[k].flags;
        std::memcpy(rec + 2, blob.data() + raw.off, raw.len);
        for (unsigned f = 0; f < 2 && w; ++f)
            ValueIds::put(rec + 2 + raw.len + f * w, w, recs[k].set[f]);
        bytes[b] += 2 + raw.len + t.extra_;
        const std::uint32_t slot = filled[b]++;
        if (slot < Bucket::kSlots)
            buckets[b].fp[slot] = fingerprint(hashes[k], recs[k].flags);
        else
            buckets[b].fp[Bucket::kSlots - 1] = Bucket::kOverflow;
    }
    t.buckets_ = buckets;
    t.arena_ = arena;
    std::vector<Raw>().swap(raw_);
    std::string().swap(names_);
    return t;
}

}  // namespace pampero::scan::zone_detail
