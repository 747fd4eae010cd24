#include "message_id.hpp"

#include "syntax.hpp"

namespace portcullis::message {

namespace {

using syntax::Cursor;

// Why the value is not one msg-id, or "" when it is.
std::string message_id_problem(std::string_view value) {
    Cursor cursor{value};
    if (!syntax::skip_cfws(cursor))
        return "comment not closed";
    if (cursor.done())
        return "empty";
    if (!cursor.next_is('<'))
        return "no '<' at '" + syntax::shown(value.substr(cursor.at)) + "'";
    ++cursor.at;
    const std::size_t left = cursor.at;
    if (!syntax::read_local_part(cursor))
        return "id-left invalid at '" + syntax::shown(value.substr(left)) + "'";
    if (!cursor.next_is('@'))
        return "no '@' in msg-id";
    ++cursor.at;
    const std::size_t right = cursor.at;
    if (!syntax::read_domain(cursor, nullptr))
        return "id-right invalid at '" + syntax::shown(value.substr(right)) + "'";
    if (!cursor.next_is('>'))
        return "no '>' at '" + syntax::shown(value.substr(cursor.at)) + "'";
    ++cursor.at;
    if (!syntax::skip_cfws(cursor))
        return "comment not closed";
    if (cursor.next_is('<'))
        return "more than one msg-id";
    if (!cursor.done())
        return "text after msg-id: '" + syntax::shown(value.substr(cursor.at)) + "'";
    return "";
}

} // namespace

bool valid_message_id(std::string_view value, std::string *why) {
    auto problem = message_id_problem(value);
    if (problem.empty())
        return true;
    if (why)
        *why = std::move(problem);
    return false;
}

} // namespace portcullis::message
