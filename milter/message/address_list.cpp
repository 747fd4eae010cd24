#include "address_list.hpp"

#include "syntax.hpp"

namespace portcullis::message {

namespace {

using syntax::Cursor;

class AddressListParser {
  public:
    explicit AddressListParser(std::string_view value) : cursor_{value} {}

    MailboxDomains parse();

  private:
    bool list(bool in_group);
    bool address(bool in_group);
    bool angle_addr();
    bool route();
    bool domain();
    struct Words {
        std::size_t count = 0;  // words (atoms, quoted strings)
        bool dots = false;      // dots among them
        bool local_part = true; // word *("." word)
        bool phrase = true;     // starts with a word, or empty
    };
    bool read_words(Words &words);

    Cursor cursor_;
    MailboxDomains result_;
};

// The words before '<', '@' or ':': a display-name (phrase, obs-phrase:
// a word, then words, dots, CFWS) or a local-part (word *("." word)).
bool AddressListParser::read_words(Words &words) {
    bool after_dot = true; // at the start, a dot is as wrong as after a dot
    for (;;) {
        if (!syntax::skip_cfws(cursor_))
            return false;
        if (cursor_.next_is('.')) {
            ++cursor_.at;
            if (after_dot)
                words.local_part = false;
            if (words.count == 0)
                words.phrase = false;
            words.dots = true;
            after_dot = true;
            continue;
        }
        if (cursor_.next_is('"')) {
            if (!syntax::read_quoted_string(cursor_))
                return false;
        } else if (syntax::read_atext(cursor_).empty()) {
            break;
        }
        if (!after_dot)
            words.local_part = false; // two words without a dot between them
        after_dot = false;
        ++words.count;
    }
    if (after_dot && (words.count > 0 || words.dots))
        words.local_part = false;
    return true;
}

bool AddressListParser::domain() {
    std::string domain;
    if (!syntax::read_domain(cursor_, &domain, true))
        return false;
    if (result_.domains.size() >= max_mailboxes)
        return false;
    result_.domains.push_back(syntax::lowercase(domain));
    return true;
}

// obs-route = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain]) ":"
bool AddressListParser::route() {
    bool domains = false;
    bool after_domain = false;
    for (;;) {
        if (!syntax::skip_cfws(cursor_))
            return false;
        if (cursor_.next_is(',')) {
            ++cursor_.at;
            after_domain = false;
        } else if (cursor_.next_is('@') && !after_domain) {
            ++cursor_.at;
            if (!syntax::read_domain(cursor_, nullptr))
                return false;
            domains = after_domain = true;
        } else {
            break;
        }
    }
    if (!domains || !cursor_.next_is(':'))
        return false;
    ++cursor_.at;
    return true;
}

// After '<': [obs-route] addr-spec ">" [CFWS]
bool AddressListParser::angle_addr() {
    ++cursor_.at;
    if (!syntax::skip_cfws(cursor_))
        return false;
    if ((cursor_.next_is('@') || cursor_.next_is(',')) && !route())
        return false;
    if (!syntax::read_local_part(cursor_) || !cursor_.next_is('@'))
        return false;
    ++cursor_.at;
    if (!domain() || !cursor_.next_is('>'))
        return false;
    ++cursor_.at;
    return syntax::skip_cfws(cursor_);
}

// One element of the list: a mailbox, a group (not inside a group), or
// nothing (an empty element of the obs forms).
bool AddressListParser::address(bool in_group) {
    Words words;
    if (!read_words(words))
        return false;
    if (cursor_.next_is('<'))
        return words.phrase && angle_addr();
    if (cursor_.next_is('@')) {
        if (words.count == 0 || !words.local_part)
            return false;
        ++cursor_.at;
        return domain();
    }
    if (cursor_.next_is(':') && !in_group) {
        if (words.count == 0 || !words.phrase)
            return false;
        ++cursor_.at;
        if (!list(true) || !cursor_.next_is(';'))
            return false;
        ++cursor_.at;
        return syntax::skip_cfws(cursor_);
    }
    // Nothing but CFWS: an empty element; anything else does not parse.
    return words.count == 0 && !words.dots &&
           (cursor_.done() || cursor_.next_is(',') || (in_group && cursor_.next_is(';')));
}

// Elements separated by ',' up to the end (or, in a group, up to ';').
bool AddressListParser::list(bool in_group) {
    for (;;) {
        if (!address(in_group))
            return false;
        if (cursor_.next_is(',')) {
            ++cursor_.at;
            continue;
        }
        return cursor_.done() || (in_group && cursor_.next_is(';'));
    }
}

MailboxDomains AddressListParser::parse() {
    result_.complete = list(false) && cursor_.done();
    return std::move(result_);
}

} // namespace

MailboxDomains mailbox_domains(std::string_view value) {
    return AddressListParser(value).parse();
}

} // namespace portcullis::message
