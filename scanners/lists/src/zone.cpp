// zone.cpp - the Zone facade: loads a file, has the text parser fill the answers and the
// table of the zone's format, and forwards lookups to that table. See zone.hpp; the pieces:
// zone_text_parser (syntax), zone_answers (A/TXT answers and value sets), zone_ip_table
// (ip4set, ip4tset) and zone_name_table (dnset).
#include "pampero/lists/zone.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <stdexcept>

#include "zone_answers.hpp"
#include "zone_ip_table.hpp"
#include "zone_name_table.hpp"
#include "zone_text_parser.hpp"

namespace pampero::scan {

using namespace zone_detail;

struct Zone::Impl {
    ZoneAnswers answers;
    Ip4Table ips;     // ip4set, ip4tset
    NameTable names;  // dnset
};

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
    Impl& m = *z->impl_;
    try {
        ZoneAnswersBuilder answers(m.answers);
        Ip4TableBuilder ips;
        NameTableBuilder names(NameTableBuilder::Options{options.name_buckets});
        ZoneTextParser parser(format, name, z->stats_, answers, ips, names);
        parser.run(text);
        if (format == ZoneFormat::dnset)
            m.names = names.build(answers);
        else
            m.ips = ips.build(answers);
        answers.finish();
        z->stats_.expires = parser.expires();
    } catch (const ZoneParseError& e) {
        return Error::config(e.what());
    } catch (const std::logic_error& e) {  // a table's bound (zone too large)
        return Error::config(fmt::format("{}: {}", name, e.what()));
    } catch (const std::bad_alloc&) {
        return Error::temporary(fmt::format("{}: out of memory loading the zone", name));
    }
    z->stats_.memory = m.answers.memory() + m.ips.memory() + m.names.memory();
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
    return impl_->ips.lookup(ip, impl_->answers);
}

ZoneMatch Zone::lookup_name(std::string_view name) const noexcept {
    if (format_ != ZoneFormat::dnset) return {};
    return impl_->names.lookup(name, impl_->answers);
}

void Zone::lookup_names(std::span<const std::string_view> names,
                        std::span<ZoneMatch> out) const noexcept {
    if (format_ != ZoneFormat::dnset) {
        const std::size_t count = std::min(names.size(), out.size());
        for (std::size_t i = 0; i < count; ++i) out[i] = {};
        return;
    }
    impl_->names.lookup_many(names, out, impl_->answers);
}

std::uint32_t Zone::answer_a(std::uint32_t id) const noexcept {
    return impl_->answers.answers[id].a;
}

std::string Zone::answer_txt(std::uint32_t id, std::string_view subject) const {
    return impl_->answers.txt(id, subject);
}

}  // namespace pampero::scan
