// The text exposition format (exposition.hpp).
#include "exposition.hpp"

#include <charconv>
#include <cmath>

namespace portcullis::metrics {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double value) {
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    if (std::isnan(value))
        return "NaN";
    // Fixed notation ("0.0005", not "5e-04"), shortest that reads back.
    char buffer[400];
    const auto [end, error] =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
    return error == std::errc() ? std::string(buffer, end) : "NaN";
}

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    // HELP text escapes only backslash and newline.
    for (const char c : help)
        text_ += c == '\n' ? std::string_view("\\n") : c == '\\' ? "\\\\" : std::string_view(&c, 1);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void TextWriter::series(std::string_view name, const Labels &labels) {
    text_ += name;
    if (!labels.empty()) {
        text_ += '{';
        bool first = true;
        for (const auto &[label, value] : labels) {
            if (!first)
                text_ += ',';
            first = false;
            text_ += label;
            text_ += "=\"";
            text_ += escape_label_value(value);
            text_ += '"';
        }
        text_ += '}';
    }
    text_ += ' ';
}

void TextWriter::sample(std::string_view name, const Labels &labels, std::uint64_t value) {
    series(name, labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels &labels, double value) {
    series(name, labels);
    text_ += format_value(value);
    text_ += '\n';
}

void TextWriter::histogram(std::string_view name, const Labels &labels,
                           const Histogram &histogram) {
    const auto snapshot = histogram.snapshot();
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
        const std::string le = i < Histogram::latency_bounds.size()
                                   ? format_value(Histogram::latency_bounds[i])
                                   : std::string("+Inf");
        Labels with_le = labels;
        with_le.emplace_back("le", le);
        sample(bucket, with_le, snapshot.cumulative[i]);
    }
    sample(std::string(name) + "_sum", labels, snapshot.sum_seconds);
    sample(std::string(name) + "_count", labels, snapshot.count);
}

} // namespace portcullis::metrics
