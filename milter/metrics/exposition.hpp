// Writes the Prometheus text exposition format, version 0.0.4: a "# HELP"
// and a "# TYPE" line per family, then one line per sample, label values
// escaped (backslash, double quote, newline). Plain text building, no
// I/O; the registry (portcullis_metrics.hpp) decides what is written.
#pragma once

#include "counters.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::metrics {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

class TextWriter {
  public:
    // type: "counter", "gauge" or "histogram".
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const Labels &labels, std::uint64_t value);
    void sample(std::string_view name, const Labels &labels, double value);
    // NAME_bucket{...,le="..."}, NAME_sum and NAME_count of one histogram.
    void histogram(std::string_view name, const Labels &labels, const Histogram &histogram);

    const std::string &text() const { return text_; }

  private:
    void series(std::string_view name, const Labels &labels);
    std::string text_;
};

// A label value with '\\', '"' and newline escaped as the format wants.
std::string escape_label_value(std::string_view value);
// A sample value in fixed notation, the shortest that reads back as it.
std::string format_value(double value);

} // namespace portcullis::metrics
