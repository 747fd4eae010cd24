// `portcullis check`: runs the milter's policy for one imagined client
// with the configured resolver and prints every stage's results and the
// decision, so that an administrator can answer "why was this refused?".
// Then what the state store holds about the client (its block, counters,
// allowlist entries and greylist pass), read without writing, or one line
// saying why the store is not available.
#pragma once

namespace portcullis {

int check_command(int argc, char **argv);

} // namespace portcullis
