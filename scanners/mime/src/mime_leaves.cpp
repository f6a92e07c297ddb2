#include "pampero/mime/mime_leaves.hpp"

#include <gmime/gmime.h>

#include <string_view>

#include "gmime_util.hpp"
#include "pampero/mime/message.hpp"

namespace pampero::scan {
namespace {

bool media_is(GMimeObject* obj, const char* type, const char* subtype) {
    GMimeContentType* ct = g_mime_object_get_content_type(obj);
    return ct && g_mime_content_type_is_type(ct, type, subtype);
}

// A line that opens a uuencoded ("begin 644 name"), yEnc ("=ybegin ") or BinHex block:
// encodings inside a text body that GMime leaves alone and libclamav's mail parser undoes.
bool has_inline_encoding(std::string_view text) {
    static constexpr std::string_view kBinHex = "(This file must be converted with BinHex";
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t nl = text.find('\n', at);
        const std::string_view line = text.substr(at, nl == std::string_view::npos ? nl : nl - at);
        if (line.starts_with("begin ") && line.size() > 9 && line[6] >= '0' && line[6] <= '7')
            return true;
        if (line.starts_with("=ybegin ") || line.starts_with(kBinHex)) return true;
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    return false;
}

class LeafWalker {
  public:
    explicit LeafWalker(MimeLeaves& out) : out_(out) {}

    void walk(GMimeObject* obj, std::size_t depth) {
        if (!obj || out_.whole_message) return;
        if (++parts_ > kMaxParts || depth >= kMaxMimeDepth) {
            out_.whole_message = true;  // past our bounds: libclamav's parser has its own
            return;
        }
        if (media_is(obj, "message", "partial") || media_is(obj, "application", "ms-tnef") ||
            media_is(obj, "application", "vnd.ms-tnef")) {
            out_.whole_message = true;
            return;
        }
        if (GMIME_IS_MULTIPART(obj)) {
            GMimeMultipart* mp = GMIME_MULTIPART(obj);
            const int n = g_mime_multipart_get_count(mp);
            for (int i = 0; i < n; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
            return;
        }
        if (GMIME_IS_MESSAGE_PART(obj)) {
            GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
            if (inner) walk(g_mime_message_get_mime_part(inner), depth + 1);
            return;
        }
        if (!GMIME_IS_PART(obj)) return;
        GMimePart* part = GMIME_PART(obj);
        const char* name = g_mime_part_get_filename(part);
        if (name && g_ascii_strcasecmp(name, "winmail.dat") == 0) {
            out_.whole_message = true;
            return;
        }
        std::string content = decoded_content(part);
        if (content.empty()) return;
        if (has_inline_encoding(content)) {
            out_.whole_message = true;
            return;
        }
        out_.contents.push_back(std::move(content));
    }

  private:
    MimeLeaves& out_;
    std::size_t parts_ = 0;
};

}  // namespace

MimeLeaves mime_leaves(std::string_view raw, const ParsedMime* parsed) {
    init_mime();
    MimeLeaves out;
    GPtr<GMimeMessage> own;
    GMimeMessage* msg = gmime_message_for(raw, parsed, own);
    if (!msg) {
        out.whole_message = true;  // no header block GMime could read: let libclamav try
        return out;
    }
    LeafWalker(out).walk(g_mime_message_get_mime_part(msg), 0);  // none: headers only
    return out;
}

}  // namespace pampero::scan
