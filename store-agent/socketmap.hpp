// socketmap.hpp - the mailbox-location maps Postfix asks over its socketmap protocol.
//
// Request (inside a netstring): "NAME KEY". Maps, backed by the directory (with its cache):
//   domain     KEY a domain: "OK DOMAIN" when it is ours       (virtual_mailbox_domains)
//   mailbox    KEY an address: "OK MAILDIR" when it is a user  (virtual_mailbox_maps)
//   alias      KEY an address: "OK T1,T2" for an alias          (virtual_alias_maps)
//   transport  KEY an address: "OK lmtp:inet:HOST:PORT" of the node holding the user
//                                                               (transport_maps)
// A key that is not a plain address (Postfix also asks "@domain", "user", "domain") is
// "NOTFOUND ". A directory error is "TEMP reason" (Postfix defers the mail); a request
// that is not "NAME KEY", or names no map we have, is "PERM reason". Replies carry no
// control characters and stay under socketmap_table(5)'s 100000 octets.
// Thread-safety: answer() may be called from many connections at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/directory.hpp"
#include "store.hpp"

namespace pampero::store {

struct SocketmapRequest {
    std::string map;
    std::string key;
};

// Pure: nullopt when the request is not "NAME KEY" with printable text.
std::optional<SocketmapRequest> parse_socketmap_request(std::string_view request);

class SocketmapService {
  public:
    SocketmapService(Directory& directory, SnapshotHolder& snapshot)
        : dir_(directory), snap_(snapshot) {}
    // The reply text (not yet a netstring).
    std::string answer(std::string_view request);

  private:
    Directory& dir_;
    SnapshotHolder& snap_;
};

}  // namespace pampero::store
