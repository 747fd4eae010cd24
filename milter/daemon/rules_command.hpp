// `portcullis rules`: the rules the checks declare, as `postconf -d`
// shows Postfix's defaults. Without options, one line per rule: id,
// stage, default action, the codes of its built-in reply and its summary.
// --json prints every declaration (help text and reply lines included);
// --replies prints the built-in replies in the form of the replies file;
// --man TEMPLATE prints portcullis.conf(5) from its template, the rule
// list filled in (the build runs this).
#pragma once

namespace portcullis {

int rules_command(int argc, char **argv);

} // namespace portcullis
