// libFuzzer target: pampero-milter's milter protocol codec on arbitrary bytes, read as the
// MTA's stream: every packet framed is decoded, every view handed out lies inside the
// input, and the same stream cut in two (as two reads would deliver it) frames the same
// packets. Reply encoders get fuzzed strings: what they accept must frame back to itself.
// fuzz-sources: milter/protocol.cpp common/src/result.cpp
// fuzz-libs: fmt
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "../../milter/protocol.hpp"

namespace {

using namespace pampero::milter;

bool inside(std::string_view in, std::string_view part) {
    return part.empty() ||
           (part.data() >= in.data() && part.data() + part.size() <= in.data() + in.size());
}

void check_views(std::string_view in, const proto::Command& c) {
    std::vector<std::string_view> views;
    if (auto* m = std::get_if<proto::Macros>(&c)) {
        if (m->pairs.size() > proto::kMaxMacros) std::abort();
        for (const auto& [n, v] : m->pairs) views.insert(views.end(), {n, v});
    } else if (auto* cn = std::get_if<proto::Connect>(&c)) {
        views = {cn->hostname, cn->address};
    } else if (auto* ml = std::get_if<proto::Mail>(&c)) {
        if (ml->args.empty() || ml->args.size() > proto::kMaxArgs + 1) std::abort();
        views = ml->args;
    } else if (auto* r = std::get_if<proto::Rcpt>(&c)) {
        if (r->args.empty() || r->args.size() > proto::kMaxArgs + 1) std::abort();
        views = r->args;
    } else if (auto* h = std::get_if<proto::Header>(&c)) {
        views = {h->name, h->value};
    } else if (auto* b = std::get_if<proto::Body>(&c)) {
        views = {b->chunk};
    } else if (auto* e = std::get_if<proto::EndOfMessage>(&c)) {
        views = {e->chunk};
    }
    for (auto v : views) {
        if (!inside(in, v)) std::abort();
    }
}

// The commands framed from `in` fed in two reads, cut at `cut`; stops at an error.
std::vector<std::string> frame(std::string_view in, std::size_t cut, bool& error) {
    std::vector<std::string> out;
    std::string buffer;
    error = false;
    for (std::string_view piece : {in.substr(0, cut), in.substr(cut)}) {
        buffer.append(piece);
        for (int i = 0; i < 10000; ++i) {
            const auto f = proto::next_packet(buffer);
            if (f.status == proto::Framing::Status::incomplete) break;
            if (f.status == proto::Framing::Status::error) {
                error = true;
                return out;
            }
            if (f.consumed != 5 + f.packet.data.size() || f.consumed > buffer.size()) std::abort();
            out.push_back(std::string(1, f.packet.command) + std::string(f.packet.data));
            buffer.erase(0, f.consumed);
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    // The stream as one buffer: frame and decode every packet.
    std::string_view rest = in;
    for (int i = 0; i < 10000; ++i) {
        const auto f = proto::next_packet(rest);
        if (f.status != proto::Framing::Status::ok) break;
        if (!inside(in, f.packet.data)) std::abort();
        if (auto c = proto::decode(f.packet)) {
            check_views(in, *c);
        } else if (c.error().message.empty()) {
            std::abort();  // an error always says why
        }
        rest.remove_prefix(f.consumed);
    }

    // Cut anywhere, the same packets (up to the first framing error).
    if (size > 0) {
        bool error_whole = false, error_cut = false;
        const auto whole = frame(in, size, error_whole);
        const auto cut = frame(in, data[0] % (size + 1), error_cut);
        if (whole != cut || error_whole != error_cut) std::abort();
    }

    // Encoders: split the input into name and value at its first '|'.
    const auto bar = in.find('|');
    const std::string_view name = in.substr(0, bar);
    const std::string_view value =
        bar == std::string_view::npos ? std::string_view() : in.substr(bar + 1);
    std::string out;
    if (proto::encode_add_header(out, name, value)) {
        const auto f = proto::next_packet(out);
        if (f.status != proto::Framing::Status::ok || f.consumed != out.size() ||
            f.packet.command != 'h')
            std::abort();
        const auto h = proto::decode({'L', f.packet.data});  // same layout as an MTA header
        if (!h || std::get<proto::Header>(*h).name != name ||
            std::get<proto::Header>(*h).value != value)
            std::abort();
    } else if (name.find('\0') == std::string_view::npos &&
               value.find('\0') == std::string_view::npos &&
               name.size() + value.size() + 3 <= proto::kMaxPacketLength) {
        std::abort();  // refused something it can encode
    }
    out.clear();
    if (proto::encode_reply_code(out, in)) {
        const auto f = proto::next_packet(out);
        if (f.status != proto::Framing::Status::ok || f.packet.command != 'y' ||
            f.packet.data != std::string(in) + std::string(1, '\0')) {
            std::abort();
        }
    }
    return 0;
}
