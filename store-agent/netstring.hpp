// netstring.hpp - netstrings (cr.yp.to/proto/netstrings.txt): "LEN:DATA,".
//
// The framing of Postfix's socketmap protocol (socketmap_table(5)). Pure, thread-safe.
// Bound: a netstring longer than `max_len` data octets is an error before any of its data
// is read; socketmap_table(5) caps replies at 100000 octets and we use the same bound
// for requests (kMaxSocketmapNetstring). The length prefix is at most 10 digits, with
// no leading zeros except "0:" itself.
// Errors: after a framing error the stream cannot be resynchronized; the caller answers
// once and closes the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pampero::store {

constexpr std::size_t kMaxSocketmapNetstring = 100000;

struct NetstringDecode {
    enum class Status { ok, incomplete, error } status = Status::incomplete;
    std::string_view value;    // ok: points into the input buffer
    std::size_t consumed = 0;  // ok: octets of the input that made this netstring
    const char* error = "";    // error: why
};

// Decodes the netstring at the start of `buf`.
NetstringDecode decode_netstring(std::string_view buf,
                                 std::size_t max_len = kMaxSocketmapNetstring);

std::string encode_netstring(std::string_view data);

}  // namespace pampero::store
