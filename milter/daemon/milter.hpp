// The libmilter callback table: the only place that knows libmilter.
// Each callback translates the MTA's arguments and macros into Session
// calls and a Session answer into SMFIS_* and smfi_setmlreply(). Any
// exception becomes a logged tempfail: mail is never lost to a bug.
#pragma once

#include <libmilter/mfapi.h>

#include <cstddef>

namespace portcullis {

smfiDesc milter_description();

// MTA connections between their first callback and their close: the
// SMTP sessions in flight.
std::size_t open_connections();

} // namespace portcullis
