// lmtp_client.hpp - hands a message to another pampero-store over LMTP.
//
// Used when a recipient's mailbox (or its second location during a migration) lives on
// another storage node: the message is sent there with the recipients marked
// XPAMPERO-LOCAL (deliver on that node only), so a forwarded copy is never forwarded
// again, and that node's reply for each recipient is relayed as it is.
// Errors: no connection, a timeout or a protocol error gives every recipient the same
// temporary reply (451 4.4.1 / 4.4.2 / 4.5.0), so the MTA retries; nothing is guessed.
// Blocking, with timeouts; safe to call from many threads (each call has its socket).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "lmtp_codec.hpp"
#include "pampero/common/endpoint.hpp"

namespace pampero::store {

struct ForwardTimeouts {
    std::chrono::milliseconds connect{10000};
    std::chrono::seconds command{60};
    std::chrono::seconds data{600};
};

// One reply per entry of `recipients`, in order. `message` has LF line ends.
std::vector<lmtp::Reply> forward_lmtp(const Endpoint& to, const std::string& node_name,
                                      const std::string& my_name, const std::string& sender,
                                      const std::vector<std::string>& recipients,
                                      std::string_view message, const ForwardTimeouts& t = {});

}  // namespace pampero::store
