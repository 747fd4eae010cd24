// The options of the message stage: the header checks (headers.*), the
// domains the From: anti-spoofing rule protects (own-domains), DKIM
// verification (dkim.*) and the Authentication-Results field.
#include "address.hpp"
#include "host_name.hpp"
#include "option_binding.hpp"

#include <string>

namespace portcullis {

namespace {

using namespace std::chrono_literals;

std::vector<std::string> domain_names(const OptionValue &in) {
    std::vector<std::string> names;
    for (const auto &word : in.list()) {
        auto name = normalize_host(word);
        if (auto problem = host_name_problem(name, true); !problem.empty())
            in.fail(word, "'" + word + "' is not a domain name: " + problem);
        names.push_back(std::move(name));
    }
    return names;
}

constexpr BoundOption options[] = {
    {{"headers.date-past", OptionType::duration, "7d",
      "a Date: field further in the past than this is refused (header-date-past); mail that "
      "waited in a queue for longer trips it"},
     [](const OptionValue &in, Config &config) {
         config.message.date_past = duration_in(in, 1min, 3650 * 24h, "between 1min and 3650d");
     }},
    {{"headers.date-future", OptionType::duration, "2h",
      "a Date: field further in the future than this is refused (header-date-future); a sender "
      "whose clock runs fast trips it"},
     [](const OptionValue &in, Config &config) {
         config.message.date_future = duration_in(in, 1min, 3650 * 24h, "between 1min and 3650d");
     }},
    {{"headers.max-fields", OptionType::number, "1000",
      "header fields a message may have (header-too-large); more are counted, not kept"},
     [](const OptionValue &in, Config &config) {
         config.message.max_fields = in.whole_number(10, 100000);
     }},
    {{"headers.max-bytes", OptionType::size, "1m",
      "header bytes a message may have (header-too-large); more are counted, not kept"},
     [](const OptionValue &in, Config &config) {
         config.message.max_bytes = in.size();
         if (config.message.max_bytes < 4096 || config.message.max_bytes > (std::uint64_t{1} << 30))
             in.fail(in.written(), "must be between 4k and 1g");
     }},
    {{"own-domains", OptionType::list, "",
      "mail with a From: address in these domains (or their subdomains) must come from a "
      "trusted or authenticated client, or pass DKIM or aligned SPF (from-spoofed)"},
     [](const OptionValue &in, Config &config) { config.message.own_domains = domain_names(in); }},
    {{"dkim.verify", OptionType::boolean, "yes",
      "verify the DKIM signatures of each message (rules dkim-*, Authentication-Results)"},
     [](const OptionValue &in, Config &config) { config.message.dkim_verify = in.boolean(); }},
    {{"dkim.max-signatures", OptionType::number, "5",
      "DKIM signatures verified per message, in the order of the header; later ones are ignored"},
     [](const OptionValue &in, Config &config) {
         config.message.dkim_max_signatures = in.whole_number(1, 50);
     }},
    {{"authentication-results", OptionType::boolean, "yes",
      "add an Authentication-Results: field (RFC 8601) with iprev, SPF and DKIM results, and "
      "delete the ones that claim to be ours"},
     [](const OptionValue &in, Config &config) {
         config.message.authentication_results = in.boolean();
     }},
    {{"authserv-id", OptionType::string, "",
      "the authserv-id of our Authentication-Results fields (empty: the MTA's j macro)"},
     [](const OptionValue &in, Config &config) {
         auto name = normalize_host(in.text());
         if (!name.empty())
             if (auto problem = host_name_problem(name, true); !problem.empty())
                 in.fail(in.written(), "'" + in.text() + "' is not a host name: " + problem);
         config.message.authserv_id = std::move(name);
     }},
};

} // namespace

std::span<const BoundOption> message_options() {
    return options;
}

} // namespace portcullis
