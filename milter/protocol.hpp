// protocol.hpp - the sendmail milter protocol (version 6), as Postfix's milter8 and
// libmilter speak it: a pure codec, bytes in, structs out, no sockets.
//
// Framing: every packet is a 4-octet big-endian length, then that many octets: one
// command octet and the data. next_packet() cuts one packet off the front of a buffer
// (the MTA pipelines: several packets may already be buffered, or half of one);
// decode() turns an MTA packet (O D C H M R T L N B E A Q K U) into a Command;
// the encode_*() functions append one milter packet (c r t a y - h m O) to a buffer.
//
// Errors are values, never exceptions, and both kinds end the connection (the stream
// cannot be trusted after them):
//   - framing: next_packet() returns Framing::Status::error with a short reason for a
//     length of 0 or above the bound the caller passes (kMaxNegotiationLength before
//     option negotiation, kMaxPacketLength after). Packet boundaries are lost, so the
//     caller answers 't' whatever the MTA was waiting for, and closes (Dialog::framing_error);
//   - decoding: decode() returns Error::permanent with a short reason for a truncated
//     field, a string without its NUL terminator, too many strings or macro pairs, an
//     unknown address family or command octet. The caller answers 't' only when the MTA
//     waits for a reply to that command (not after D, A, Q, K or a negotiated no-reply
//     step), and closes.
// Strings handed out are views into the caller's buffer: valid while it is.
//
// Bounds (peer input): one packet at most kMaxPacketLength octets (command included).
// Postfix sends body chunks of at most 65535 octets (MILTER_CHUNK_SIZE) and headers of
// at most header_size_limit (100 KiB by default); 1 MiB leaves room for both and stops a
// bogus length from making us buffer gigabytes. Before option negotiation the only
// packet an MTA sends is 'O' (13 octets; libmilter ignores anything after its three
// fields): a caller passes kMaxNegotiationLength to next_packet() until then, so a peer
// that has not even negotiated cannot announce a large packet. A macro packet carries at
// most kMaxMacros pairs, MAIL/RCPT at most kMaxArgs arguments.
//
// Thread-safety: pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::milter::proto {

constexpr std::size_t kMaxPacketLength = 1024 * 1024;  // the length field's bound
constexpr std::size_t kMaxNegotiationLength = 1024;    // ... before option negotiation
constexpr std::size_t kMaxMacros = 256;                // name/value pairs in one D packet
constexpr std::size_t kMaxArgs = 256;                  // ESMTP arguments of MAIL/RCPT
constexpr std::uint32_t kVersion = 6;                  // the protocol version we speak

// Actions (SMFIF_*) and protocol flags (SMFIP_*), as libmilter's mfapi.h/mfdef.h number them.
namespace action {
constexpr std::uint32_t add_headers = 0x01;     // SMFIF_ADDHDRS
constexpr std::uint32_t change_body = 0x02;     // SMFIF_CHGBODY
constexpr std::uint32_t add_rcpt = 0x04;        // SMFIF_ADDRCPT
constexpr std::uint32_t delete_rcpt = 0x08;     // SMFIF_DELRCPT
constexpr std::uint32_t change_headers = 0x10;  // SMFIF_CHGHDRS
}  // namespace action
namespace flag {
constexpr std::uint32_t no_connect = 0x00000001;            // SMFIP_NOCONNECT
constexpr std::uint32_t no_helo = 0x00000002;               // SMFIP_NOHELO
constexpr std::uint32_t no_mail = 0x00000004;               // SMFIP_NOMAIL
constexpr std::uint32_t no_rcpt = 0x00000008;               // SMFIP_NORCPT
constexpr std::uint32_t no_body = 0x00000010;               // SMFIP_NOBODY
constexpr std::uint32_t no_headers = 0x00000020;            // SMFIP_NOHDRS
constexpr std::uint32_t no_eoh = 0x00000040;                // SMFIP_NOEOH
constexpr std::uint32_t nr_header = 0x00000080;             // SMFIP_NR_HDR: no reply per header
constexpr std::uint32_t no_unknown = 0x00000100;            // SMFIP_NOUNKNOWN
constexpr std::uint32_t no_data = 0x00000200;               // SMFIP_NODATA
constexpr std::uint32_t rcpt_rej = 0x00000800;              // SMFIP_RCPT_REJ: refused RCPTs too
constexpr std::uint32_t nr_connect = 0x00001000;            // SMFIP_NR_CONN
constexpr std::uint32_t nr_helo = 0x00002000;               // SMFIP_NR_HELO
constexpr std::uint32_t nr_mail = 0x00004000;               // SMFIP_NR_MAIL
constexpr std::uint32_t nr_rcpt = 0x00008000;               // SMFIP_NR_RCPT
constexpr std::uint32_t nr_data = 0x00010000;               // SMFIP_NR_DATA
constexpr std::uint32_t nr_unknown = 0x00020000;            // SMFIP_NR_UNKN
constexpr std::uint32_t nr_eoh = 0x00040000;                // SMFIP_NR_EOH
constexpr std::uint32_t nr_body = 0x00080000;               // SMFIP_NR_BODY
constexpr std::uint32_t header_leading_space = 0x00100000;  // SMFIP_HDR_LEADSPC
}  // namespace flag

// One framed packet: its command octet and data (a view into the buffer).
struct Packet {
    char command = 0;
    std::string_view data;
};

struct Framing {
    enum class Status { ok, incomplete, error } status = Status::incomplete;
    Packet packet;             // ok
    std::size_t consumed = 0;  // ok: octets of the buffer this packet took
    std::size_t needed = 0;    // incomplete, length known: octets the whole packet takes
    const char* error = "";    // error: why
};

// The packet at the start of `buf`. incomplete: read more and call again (nothing is
// consumed); error: a length of 0 or above `max_length`.
Framing next_packet(std::string_view buf, std::size_t max_length = kMaxPacketLength);

// MTA commands, one struct each.
struct OptionNegotiation {  // 'O'
    std::uint32_t version = 0;
    std::uint32_t actions = 0;   // what the MTA allows us to do
    std::uint32_t protocol = 0;  // the steps the MTA may leave out / not wait for
};
struct Macros {      // 'D': macros for the command that follows
    char stage = 0;  // the command octet they belong to ('C', 'M', 'R', 'E' ...)
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
};
struct Connect {  // 'C'
    std::string_view hostname;
    char family = 'U';  // '4', '6', 'L' (unix socket), 'U' (unknown: no port, no address)
    std::uint16_t port = 0;
    std::string_view address;  // as sent ("IPv6:" prefix and all), empty for 'U'
};
struct Helo {  // 'H'
    std::string_view hostname;
};
struct Mail {  // 'M': args[0] is the sender, then ESMTP arguments
    std::vector<std::string_view> args;
};
struct Rcpt {  // 'R'
    std::vector<std::string_view> args;
};
struct Data {};  // 'T'
struct Header {  // 'L'
    std::string_view name;
    std::string_view value;
};
struct EndOfHeaders {};  // 'N'
struct Body {            // 'B'
    std::string_view chunk;
};
struct EndOfMessage {  // 'E': may carry a last body chunk (Postfix sends none)
    std::string_view chunk;
};
struct Abort {};              // 'A': the transaction is over, the connection is not
struct Quit {};               // 'Q'
struct QuitNewConnection {};  // 'K': forget the connection, another 'C' follows
struct Unknown {              // 'U': an SMTP command the MTA did not know
    std::string_view command;
};

using Command =
    std::variant<OptionNegotiation, Macros, Connect, Helo, Mail, Rcpt, Data, Header, EndOfHeaders,
                 Body, EndOfMessage, Abort, Quit, QuitNewConnection, Unknown>;

Result<Command> decode(const Packet& packet);

// Milter replies. Each appends one packet to `out`; false (and `out` unchanged) when the
// packet cannot be encoded: a string holding a NUL, or a packet above kMaxPacketLength.
bool encode_simple(std::string& out, char reply);  // 'c' continue, 'r', 't', 'a' ...
// 'y': "550 5.1.1 text" sent as is (NUL-terminated), one line. Escapes nothing: Postfix
// turns "%%" into "%" (sendmail used the text as a format), so the caller doubles '%'.
bool encode_reply_code(std::string& out, std::string_view reply);
bool encode_delete_rcpt(std::string& out, std::string_view rcpt);                         // '-'
bool encode_add_header(std::string& out, std::string_view name, std::string_view value);  // 'h'
// 'm': the index-th (1-based) header of that name gets `value`; an empty value deletes it.
bool encode_change_header(std::string& out, std::uint32_t index, std::string_view name,
                          std::string_view value);
// 'O': our answer to the MTA's option negotiation.
void encode_negotiation(std::string& out, const OptionNegotiation& ours);

}  // namespace pampero::milter::proto
