// gmime_util.hpp - what message.cpp and mime_leaves.cpp both need from GMime: a
// unique_ptr for GObjects (streams, parsers, messages; released with g_object_unref), a
// part's content with its transfer encoding undone (or only its size), and the parse of a message
// (shared through a ParsedMime when the caller has one). Internal to libpampero-mime.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string>
#include <string_view>

#include "pampero/mime/parsed_mime.hpp"

namespace pampero::scan {

struct GObjectUnref {
    void operator()(void* p) const {
        if (p) g_object_unref(p);
    }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// The part's content, base64 / quoted-printable / uuencode undone; empty when it has none.
inline std::string decoded_content(GMimePart* part) {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    if (!content) return {};
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, mem.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    if (!bytes || bytes->len == 0) return {};
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// The size of the part's content once decoded, counted without keeping it.
inline std::size_t decoded_size(GMimePart* part) {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    if (!content) return 0;
    GPtr<GMimeStream> null(g_mime_stream_null_new());
    g_mime_data_wrapper_write_to_stream(content, null.get());
    return GMIME_STREAM_NULL(null.get())->written;
}

// A GMime message parsed from `raw` (copied into GMime's own stream); null when GMime
// finds no header block.
inline GPtr<GMimeMessage> parse_gmime_message(std::string_view raw) {
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
    return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

struct ParsedMime::Tree {
    GPtr<GMimeMessage> message;  // null when GMime found no header block
};

// The GMime message for `raw`: the one `shared` holds when it was parsed from the same
// number of bytes (the caller vouches they are the same bytes), else a parse of `raw`
// kept in `own`. Null when GMime finds no header block.
inline GMimeMessage* gmime_message_for(std::string_view raw, const ParsedMime* shared,
                                       GPtr<GMimeMessage>& own) {
    if (shared && shared->size() == raw.size()) return shared->tree().message.get();
    own = parse_gmime_message(raw);
    return own.get();
}

}  // namespace pampero::scan
