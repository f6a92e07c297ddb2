// parsed_mime.hpp - one GMime parse of a message, shared by the virus scanner and the
// rule engine.
//
// Why: both take the message apart with GMime (the virus scanner to scan each decoded
// part, the engine to read headers, text and links). Parsing once instead of twice takes
// 22% of the instructions off the milter's end-of-message work over the development
// corpus (bench_scan's BM_EndOfMessageCorpus, counted with callgrind).
//
// A ParsedMime stands for exactly the bytes it was built from: a consumer handed one for
// different bytes (another length) ignores it and parses its own. Both consumers parse
// the whole of what they are handed (the engine bounds what it keeps of each part). Not
// thread-safe: one message, one thread, as in the milter.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

namespace pampero::scan {

class ParsedMime {
  public:
    // Parses `raw` (GMime copies it into its own stream; `raw` need not outlive this).
    explicit ParsedMime(std::string_view raw);
    ~ParsedMime();
    ParsedMime(const ParsedMime&) = delete;
    ParsedMime& operator=(const ParsedMime&) = delete;

    std::size_t size() const { return size_; }  // the bytes it was parsed from

    struct Tree;  // the GMime message; defined where GMime is included
    const Tree& tree() const { return *tree_; }

  private:
    std::size_t size_;
    std::unique_ptr<Tree> tree_;
};

}  // namespace pampero::scan
