// One SMTP session as the MTA reports it, independent of libmilter so
// that the milter glue and `portcullis check` drive the same logic.
// connect(), helo() and mail() record facts and start lookups, never
// waiting; rcpt() waits (within resolver.stage-budget) for what is still
// in flight, evaluates the checks of every stage seen so far, and turns
// the verdict into a per-recipient answer: exempt recipients
// (postmaster@, abuse@) get through whatever the verdict.
// A session has a budget (session.max-*: HELOs, transactions, recipients,
// DNS lookups, answer bytes held): beyond it, the command that went
// beyond and every later one get the session-budget tempfail, even at
// HELO and MAIL, one line is logged and no further lookup starts. The
// lookups of a transaction are released when the next MAIL or HELO
// starts (those it asks for again are kept).
// Not thread-safe: the MTA sends one command at a time per session.
#pragma once

#include "checks/check.hpp"
#include "core/policy.hpp"
#include "core/replies.hpp"
#include "memory/keys.hpp"
#include "runtime.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace portcullis {

struct Evaluation {
    std::vector<StagedResult> results;
    Decision decision;
    bool trusted = false; // trusted network or authenticated: nothing checked
    bool allowed = false; // allow.network / allow.hostname: connection checks skipped
    // allow.hostname could not decide for a DNS failure: the results of
    // the checks an allowed client skips are errors, never fails.
    std::string allow_undecided;
    std::string skip_reason; // why checks were skipped
};

// The answer to HELO or MAIL: continue, unless the session went beyond
// its budget (nothing else refuses before RCPT).
struct CommandAnswer {
    Verdict verdict = Verdict::continue_; // what goes to the MTA
    Reply reply;                          // set when the budget refused (also in dry-run)
    std::string rule;                     // session-budget then
};

struct RecipientAnswer {
    Verdict verdict = Verdict::continue_;        // what goes to the MTA
    Verdict policy_verdict = Verdict::continue_; // what the policy decided
    Reply reply;                                 // set when policy_verdict is reject or tempfail
    std::string rule;                            // the deciding rule
    bool exempt = false;
    bool dry_run = false;
    // Set when greylisting or a block answered rather than the checks:
    // the stage for the log line, and more fields for it (" greylist=...").
    std::optional<Stage> stage;
    std::string log_fields;
};

// The verdict at the end of the header or of the message, for the whole
// message: when every recipient the transaction accepted is exempt, the
// message is accepted and the refusal only logged.
struct MessageAnswer {
    Verdict verdict = Verdict::continue_;        // what goes to the MTA
    Verdict policy_verdict = Verdict::continue_; // what the policy decided
    Reply reply;                                 // set when policy_verdict is reject or tempfail
    std::string rule;
    bool exempt = false;
    bool dry_run = false;
};

// What the end of the message changes in it.
struct EndOfMessage {
    MessageAnswer answer;
    // Authentication-Results fields that claim our authserv-id: their
    // indexes among the fields of that name (1-based, as smfi_chgheader
    // counts), highest first, so that deleting one shifts none of the rest.
    std::vector<std::size_t> delete_authentication_results;
    // Fields to insert at the top of the header (just below the MTA's own
    // Received:), in this order.
    std::vector<std::pair<std::string, std::string>> add_fields;
};

class Session {
  public:
    Session(std::shared_ptr<const Runtime> runtime, std::string id);
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    void connect(std::optional<IpAddress> client, std::string client_name, std::string mta_hostname,
                 std::optional<IpAddress> daemon_address);
    CommandAnswer helo(std::string name);
    CommandAnswer mail(std::string sender, std::string auth_user, bool smtputf8 = false);
    // `mta_rejected`: the MTA refused the recipient itself ({rcpt_mailer}
    // is error, with SMFIP_RCPT_REJ); it is only counted.
    RecipientAnswer recipient(const std::string &address, bool mta_rejected = false);
    // An SMTP command the MTA did not know (xxfi_unknown): counted.
    CommandAnswer unknown_command();
    // The message (session/message.cpp): each header field as the MTA
    // sends it (the value with its leading white space, SMFIP_HDR_LEADSPC),
    // the end of the header, body chunks (false: no check needs more of
    // the body), the end of the message. Then reset_transaction().
    void header(std::string_view name, std::string_view value);
    MessageAnswer end_of_header();
    bool body(std::string_view chunk);
    EndOfMessage end_of_message();
    // The end of a message: forget the transaction.
    void reset_transaction();
    // The MTA aborted the transaction (RSET, a new HELO, a lost client):
    // forgotten, and counted as an RSET if the client goes on with MAIL.
    void abort_transaction();
    // The MTA connection ends: a transaction left without a recipient is
    // counted.
    void close();
    void set_queue_id(std::string queue_id) { queue_id_ = std::move(queue_id); }

    // Waits for lookups and evaluates every stage seen so far (cached per
    // transaction).
    const Evaluation &evaluate();
    Reply render(const Decision &decision, const std::string &recipient) const;
    // The value of a Received-SPF: header (RFC 7208 section 9.1) for the
    // message of this transaction, at end of message: the MAIL FROM
    // result (the HELO one for the null sender). Nullopt when SPF did not
    // run (trusted client, no IP, no MAIL) or spf.add-header is off.
    // Defined in received_spf.cpp.
    std::optional<std::string> received_spf_header() const;

    const Facts &facts() const { return facts_; }
    const ClientIdentity &identity() const { return identity_; }
    const Config &config() const { return *runtime_->config; }
    const std::string &id() const { return id_; }
    // The session's lookups, to see what it holds (tests, reports).
    const Lookups &lookups() const { return *lookups_; }

  private:
    CheckContext context() const;
    void prefetch(Stage stage);
    bool is_trusted() const;
    std::string allow_reason();
    // Why allow.hostname could not decide (a failed PTR or forward
    // lookup), or "" when it could.
    std::string allow_undecided() const;
    bool exempt(const std::string &recipient) const;
    // The fields a decision line starts with: session, queue, client, ptr,
    // helo and from.
    std::string decision_fields() const;
    void log_decision(const RecipientAnswer &answer, const std::string &recipient) const;
    // Whether the session is beyond its budget, now or since earlier; the
    // first time, the finding is kept and logged. Trusted clients are not
    // held to it.
    bool over_budget(Stage stage, const std::string &recipient = "");
    void log_over_budget(const std::string &recipient) const;
    std::optional<CheckResult> budget_excess() const;
    Decision budget_decision() const;
    CommandAnswer refused_command();
    RecipientAnswer refused_recipient(const std::string &recipient);

    std::shared_ptr<const Runtime> runtime_;
    std::string id_;
    std::string queue_id_;
    Facts facts_;
    ClientIdentity identity_;
    std::shared_ptr<Lookups> lookups_;
    std::shared_ptr<SessionNotes> notes_ = SessionNotes::create();
    std::optional<Evaluation> evaluation_;
    unsigned transactions_ = 0;
    std::uint64_t recipients_ = 0;
    std::optional<CheckResult> over_budget_; // rule session-budget, once beyond
    Stage over_budget_stage_ = Stage::helo;

    // Memory across sessions (session/memory.cpp): the abuse counters'
    // block and greylisting, over runtime_->store.
    state::Time now() const;
    bool remembers() const; // a store, an IP client, not trusted, not allowlisted
    void memory_connect();
    // The answer of a blocked session to any command, and its log line.
    std::optional<CommandAnswer> blocked_command(Stage stage);
    std::optional<RecipientAnswer> blocked_recipient(const std::string &recipient);
    Decision block_decision() const;
    void log_block(Stage stage, const std::string &recipient, const std::string &why) const;
    // Counts one event; when it passes its limit, the session is blocked.
    void count(memory::Counter counter, Stage stage, const std::string &recipient = "");
    void count_refusal(const RecipientAnswer &answer, const std::string &recipient);
    void end_transaction();
    void greylist(RecipientAnswer &answer, const std::string &recipient);
    std::string greylist_trigger();
    std::string greylist_origin();
    void store_failed(std::string_view feature, const state::Outcome &outcome);

    bool allowlisted_ = false;
    bool store_down_ = false; // one failure: no more calls this session
    std::optional<CheckResult> block_;
    bool block_enforced_ = false;
    bool transaction_open_ = false;
    unsigned transaction_recipients_ = 0;
    bool abort_pending_ = false;

    // The message of the transaction (session/message.cpp).
    struct MessageState;
    std::unique_ptr<MessageState> message_;
    MessageNeeds message_needs_;       // of the session's configuration
    unsigned accepted_recipients_ = 0; // accepted and not exempt, this transaction
    MessageState &message_state();
    MessageAnswer message_verdict(Stage stage);
    void log_message_decision(const MessageAnswer &answer, Stage stage,
                              const std::vector<std::string> &logged) const;
    std::string authserv_id() const;
    std::optional<std::string> authentication_results() const;
};

// A new session id: short, unique within this process's lifetime.
std::string next_session_id();

// The reply to an internal error (rule internal-error), from the reply
// book of `runtime`, or from the built-in replies without one.
Reply internal_error_reply(const Runtime *runtime);

} // namespace portcullis
