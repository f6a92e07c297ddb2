#include "pampero/mime/parsed_mime.hpp"

#include "gmime_util.hpp"
#include "pampero/mime/message.hpp"

namespace pampero::scan {

ParsedMime::ParsedMime(std::string_view raw) : size_(raw.size()), tree_(std::make_unique<Tree>()) {
    init_mime();
    tree_->message = parse_gmime_message(raw);
}

ParsedMime::~ParsedMime() = default;

}  // namespace pampero::scan
