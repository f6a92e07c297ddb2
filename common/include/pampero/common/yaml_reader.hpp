// yaml_reader.hpp - strict reading of pampero's YAML files.
//
// Configuration errors must name the file and the line, and an unknown key is an error
// (a typo such as "unknwon_limit" silently ignored is a ban that never happens).
// MapReader reads one mapping: each get_*() consumes a key, finish() rejects the keys
// nobody asked for. Errors are thrown as yaml::Error inside a loader and turned into a
// Result by the loader's public entry point, so loaders read top to bottom.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace pampero::yaml {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// "FILE:LINE" for a node (LINE is 1-based); just FILE when the node has no mark.
std::string where(const std::string& file, const YAML::Node& node);

[[noreturn]] void fail(const std::string& file, const YAML::Node& node, const std::string& msg);

// Loads a whole file; a syntax error becomes yaml::Error naming file and line.
YAML::Node load_file(const std::string& path);

// Parses "300M", "2MB", "1G", "512k", "1048576" into bytes; nullopt when malformed.
std::optional<std::uint64_t> parse_size(const std::string& text);

class MapReader {
  public:
    // `context` names the mapping in messages ("milter", "rule FOO").
    MapReader(std::string file, YAML::Node node, std::string context);

    bool has(const std::string& key) const;
    YAML::Node node(const std::string& key);  // consumes the key; null node if absent
    const YAML::Node& self() const { return node_; }
    const std::string& file() const { return file_; }

    std::optional<std::string> get_string(const std::string& key);
    std::optional<std::int64_t> get_int(const std::string& key, std::int64_t min, std::int64_t max);
    std::optional<double> get_double(const std::string& key);
    std::optional<bool> get_bool(const std::string& key);
    std::optional<std::uint64_t> get_size(const std::string& key);
    std::optional<std::vector<std::string>> get_string_list(const std::string& key);

    std::string require_string(const std::string& key);

    // Throws for the first key that no get_*() or node() consumed.
    void finish() const;

    [[noreturn]] void fail_at(const std::string& key, const std::string& msg) const;

  private:
    YAML::Node scalar(const std::string& key, const char* what);

    std::string file_;
    YAML::Node node_;
    std::string context_;
    std::set<std::string> used_;
};

}  // namespace pampero::yaml
