// The Message-ID: field (RFC 5322 3.6.4 msg-id, with the obsolete forms
// of 4.5.4), for the header checks. Pure function over hostile bytes:
// linear, never reads outside the view.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::message {

// RFC 5322 3.6.4 msg-id: [CFWS] "<" id-left "@" id-right ">" [CFWS], where id-left is dot-atom-text
// (obs-id-left: local-part accepted) and id-right is dot-atom-text or no-fold-literal
// (obs-id-right: domain accepted). Exactly one msg-id for Message-ID. false with `why` set.
// atext takes bytes >= 0x80 (RFC 6532); reasons show at most 24 bytes
// of the input, non-printable bytes as '?'.
bool valid_message_id(std::string_view value, std::string *why = nullptr);

} // namespace portcullis::message
