// contacts_import.hpp - reading an address book export: vCard (.vcf) or CSV.
//
// vCard: every EMAIL property (any group prefix or parameters: "item1.EMAIL;TYPE=work:")
// of every card, with the card's FN as the name; folded lines are unfolded.
// CSV (RFC 4180 quoting): the first row names the columns; the first column whose name
// contains "mail" (E-mail, Email Address, "E-mail 1 - Value") holds the address, a
// column named "Name" (or First/Last Name) the name.
// Addresses are normalized; malformed ones are reported in `skipped`, not imported.
// Bounds: a file over kMaxContactsFile bytes is refused.
#pragma once

#include <string>
#include <vector>

#include "pampero/common/directory.hpp"
#include "pampero/common/result.hpp"

namespace pampero::cli {

constexpr std::size_t kMaxContactsFile = 32 * 1024 * 1024;

struct ImportedContacts {
    std::vector<Contact> contacts;
    std::vector<std::string> skipped;  // what was not an address
};

// Picks the format by content: "BEGIN:VCARD" anywhere means vCard, otherwise CSV.
Result<ImportedContacts> parse_contacts(const std::string& text);

}  // namespace pampero::cli
