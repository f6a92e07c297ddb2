#include "netstring.hpp"

#include <string>

namespace pampero::store {

NetstringDecode decode_netstring(std::string_view buf, std::size_t max_len) {
    NetstringDecode d;
    constexpr std::size_t kMaxDigits = 10;
    std::size_t len = 0;
    std::size_t i = 0;
    for (; i < buf.size() && buf[i] != ':'; ++i) {
        const char c = buf[i];
        if (c < '0' || c > '9') {
            d.status = NetstringDecode::Status::error;
            d.error = "netstring length is not a number";
            return d;
        }
        if (i >= kMaxDigits || (i == 1 && buf[0] == '0')) {
            d.status = NetstringDecode::Status::error;
            d.error = i >= kMaxDigits ? "netstring length too long"
                                      : "netstring length has a leading zero";
            return d;
        }
        len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    if (i == buf.size()) return d;  // incomplete: no ':' yet
    if (i == 0) {
        d.status = NetstringDecode::Status::error;
        d.error = "netstring without a length";
        return d;
    }
    if (len > max_len) {
        d.status = NetstringDecode::Status::error;
        d.error = "netstring too long";
        return d;
    }
    const std::size_t start = i + 1;
    if (buf.size() < start + len + 1) return d;  // incomplete
    if (buf[start + len] != ',') {
        d.status = NetstringDecode::Status::error;
        d.error = "netstring not terminated by ','";
        return d;
    }
    d.status = NetstringDecode::Status::ok;
    d.value = buf.substr(start, len);
    d.consumed = start + len + 1;
    return d;
}

std::string encode_netstring(std::string_view data) {
    std::string out = std::to_string(data.size());
    out.push_back(':');
    out.append(data);
    out.push_back(',');
    return out;
}

}  // namespace pampero::store
