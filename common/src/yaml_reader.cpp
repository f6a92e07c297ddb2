#include "pampero/common/yaml_reader.hpp"

#include <fmt/format.h>

#include <cctype>
#include <limits>

namespace pampero::yaml {

std::string where(const std::string& file, const YAML::Node& node) {
    if (node.IsDefined() && node.Mark().line >= 0) {
        return fmt::format("{}:{}", file, node.Mark().line + 1);
    }
    return file;
}

void fail(const std::string& file, const YAML::Node& node, const std::string& msg) {
    throw Error(fmt::format("{}: {}", where(file, node), msg));
}

YAML::Node load_file(const std::string& path) {
    try {
        return YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        throw Error(fmt::format("{}: cannot open file", path));
    } catch (const YAML::Exception& e) {
        throw Error(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
    }
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
    std::size_t i = 0;
    std::uint64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        if (n > std::numeric_limits<std::uint64_t>::max() / 10) return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(text[i++] - '0');
    }
    if (i == 0) return std::nullopt;
    std::string unit;
    for (; i < text.size(); ++i) {
        if (text[i] != ' ')
            unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    }
    std::uint64_t mult = 1;
    if (unit.empty() || unit == "B")
        mult = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB")
        mult = 1024ull;
    else if (unit == "M" || unit == "MB" || unit == "MIB")
        mult = 1024ull * 1024;
    else if (unit == "G" || unit == "GB" || unit == "GIB")
        mult = 1024ull * 1024 * 1024;
    else
        return std::nullopt;
    if (n > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
    return n * mult;
}

MapReader::MapReader(std::string file, YAML::Node node, std::string context)
    : file_(std::move(file)), node_(std::move(node)), context_(std::move(context)) {
    if (!node_.IsMap()) fail(file_, node_, context_ + " must be a mapping");
}

bool MapReader::has(const std::string& key) const {
    return node_[key].IsDefined();
}

YAML::Node MapReader::node(const std::string& key) {
    used_.insert(key);
    return node_[key];
}

YAML::Node MapReader::scalar(const std::string& key, const char* what) {
    YAML::Node n = node(key);
    if (n.IsDefined() && !n.IsScalar()) fail_at(key, fmt::format("must be {}", what));
    return n;
}

void MapReader::fail_at(const std::string& key, const std::string& msg) const {
    YAML::Node n = node_[key];
    fail(file_, n.IsDefined() ? n : node_, fmt::format("{}.{}: {}", context_, key, msg));
}

std::optional<std::string> MapReader::get_string(const std::string& key) {
    YAML::Node n = scalar(key, "a string");
    if (!n.IsDefined()) return std::nullopt;
    return n.Scalar();
}

std::string MapReader::require_string(const std::string& key) {
    auto v = get_string(key);
    if (!v) fail(file_, node_, fmt::format("{}: missing required key '{}'", context_, key));
    return *v;
}

std::optional<std::int64_t> MapReader::get_int(const std::string& key, std::int64_t min,
                                               std::int64_t max) {
    YAML::Node n = scalar(key, "an integer");
    if (!n.IsDefined()) return std::nullopt;
    std::int64_t v = 0;
    if (!YAML::convert<std::int64_t>::decode(n, v)) fail_at(key, "must be an integer");
    if (v < min || v > max) fail_at(key, fmt::format("must be between {} and {}", min, max));
    return v;
}

std::optional<double> MapReader::get_double(const std::string& key) {
    YAML::Node n = scalar(key, "a number");
    if (!n.IsDefined()) return std::nullopt;
    double v = 0;
    if (!YAML::convert<double>::decode(n, v)) fail_at(key, "must be a number");
    return v;
}

std::optional<bool> MapReader::get_bool(const std::string& key) {
    YAML::Node n = scalar(key, "true or false");
    if (!n.IsDefined()) return std::nullopt;
    bool v = false;
    if (!YAML::convert<bool>::decode(n, v)) fail_at(key, "must be true or false");
    return v;
}

std::optional<std::uint64_t> MapReader::get_size(const std::string& key) {
    YAML::Node n = scalar(key, "a size");
    if (!n.IsDefined()) return std::nullopt;
    auto v = parse_size(n.Scalar());
    if (!v) fail_at(key, "must be a size such as 300M, 2MB or 1048576");
    return v;
}

std::optional<std::vector<std::string>> MapReader::get_string_list(const std::string& key) {
    YAML::Node n = node(key);
    if (!n.IsDefined()) return std::nullopt;
    if (!n.IsSequence()) fail_at(key, "must be a list");
    std::vector<std::string> out;
    for (const auto& item : n) {
        if (!item.IsScalar())
            fail(file_, item, fmt::format("{}.{}: items must be strings", context_, key));
        out.push_back(item.Scalar());
    }
    return out;
}

void MapReader::finish() const {
    for (const auto& kv : node_) {
        const std::string key = kv.first.as<std::string>();
        if (!used_.count(key)) {
            fail(file_, kv.first, fmt::format("unknown key '{}' in {}", key, context_));
        }
    }
}

}  // namespace pampero::yaml
