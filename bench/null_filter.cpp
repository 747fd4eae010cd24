// null-filter: the floor every portcullis figure is compared against. A
// libmilter filter whose callbacks only continue, run with the same
// libmilter (Debian's worker pool) as portcullis.
//
//   null-filter -p SOCKET [-l | -v] [-P PIDFILE]
//
// By default it registers every callback and negotiates nothing away, so
// the MTA sends it every stage, headers and body included: "a filter
// that does nothing" as Postfix sees one. With -l (lean) it asks the MTA
// to leave out what portcullis leaves out (headers, end of headers, body,
// DATA, unknown commands), for a like-for-like protocol comparison.
// With -v (verifier-shaped) it takes every stage as by default, asks for
// the actions a DKIM verifier asks for (SMFIF_ADDHDRS, SMFIF_CHGHDRS) and
// at end of message inserts one fixed Authentication-Results field, as a
// verifier does for every message: the floor for OpenDKIM and for
// portcullis with DKIM verification and Authentication-Results on.
// Stops on SIGTERM/SIGINT (libmilter's own handling).
#include <libmilter/mfapi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace {

bool lean = false;
bool verifier = false;
const unsigned long verifier_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS;

sfsistat on_negotiate(SMFICTX *, unsigned long, unsigned long steps, unsigned long, unsigned long,
                      unsigned long *actions_out, unsigned long *steps_out, unsigned long *,
                      unsigned long *) {
    *actions_out = verifier ? verifier_actions : 0;
    const unsigned long skip =
        SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA;
    *steps_out = lean ? (steps & skip) : 0;
    return SMFIS_CONTINUE;
}
sfsistat on_connect(SMFICTX *, char *, _SOCK_ADDR *) {
    return SMFIS_CONTINUE;
}
sfsistat on_helo(SMFICTX *, char *) {
    return SMFIS_CONTINUE;
}
sfsistat on_mail(SMFICTX *, char **) {
    return SMFIS_CONTINUE;
}
sfsistat on_recipient(SMFICTX *, char **) {
    return SMFIS_CONTINUE;
}
sfsistat on_data(SMFICTX *) {
    return SMFIS_CONTINUE;
}
sfsistat on_unknown(SMFICTX *, const char *) {
    return SMFIS_CONTINUE;
}
sfsistat on_header(SMFICTX *, char *, char *) {
    return SMFIS_CONTINUE;
}
sfsistat on_end_of_headers(SMFICTX *) {
    return SMFIS_CONTINUE;
}
sfsistat on_body(SMFICTX *, unsigned char *, size_t) {
    return SMFIS_CONTINUE;
}
sfsistat on_end_of_message(SMFICTX *context) {
    if (verifier)
        smfi_insheader(context, 1, const_cast<char *>("Authentication-Results"),
                       const_cast<char *>("mx.bench.example; none"));
    return SMFIS_CONTINUE;
}
sfsistat on_abort(SMFICTX *) {
    return SMFIS_CONTINUE;
}
sfsistat on_close(SMFICTX *) {
    return SMFIS_CONTINUE;
}

int usage() {
    std::fprintf(stderr, "usage: null-filter -p SOCKET [-l | -v] [-P PIDFILE]\n");
    return 64;
}

} // namespace

int main(int argc, char **argv) {
    std::string socket;
    std::string pid_file;
    int option;
    while ((option = getopt(argc, argv, "p:lvP:")) != -1) {
        switch (option) {
        case 'p':
            socket = optarg;
            break;
        case 'l':
            lean = true;
            break;
        case 'v':
            verifier = true;
            break;
        case 'P':
            pid_file = optarg;
            break;
        default:
            return usage();
        }
    }
    if (socket.empty() || (lean && verifier))
        return usage();

    smfiDesc description{};
    description.xxfi_name = const_cast<char *>("null-filter");
    description.xxfi_version = SMFI_VERSION;
    description.xxfi_flags = verifier ? verifier_actions : 0;
    description.xxfi_connect = on_connect;
    description.xxfi_helo = on_helo;
    description.xxfi_envfrom = on_mail;
    description.xxfi_envrcpt = on_recipient;
    description.xxfi_header = on_header;
    description.xxfi_eoh = on_end_of_headers;
    description.xxfi_body = on_body;
    description.xxfi_eom = on_end_of_message;
    description.xxfi_abort = on_abort;
    description.xxfi_close = on_close;
    description.xxfi_unknown = on_unknown;
    description.xxfi_data = on_data;
    description.xxfi_negotiate = on_negotiate;

    if (smfi_setconn(socket.data()) != MI_SUCCESS || smfi_register(description) != MI_SUCCESS) {
        std::fprintf(stderr, "null-filter: cannot set up %s\n", socket.c_str());
        return 71;
    }
    if (smfi_opensocket(true) != MI_SUCCESS) {
        std::fprintf(stderr, "null-filter: cannot open %s\n", socket.c_str());
        return 71;
    }
    if (!pid_file.empty()) {
        if (FILE *file = std::fopen(pid_file.c_str(), "w")) {
            std::fprintf(file, "%d\n", static_cast<int>(getpid()));
            std::fclose(file);
        }
    }
    return smfi_main() == MI_SUCCESS ? 0 : 70;
}
