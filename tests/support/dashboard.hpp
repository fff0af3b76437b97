#pragma once

// The Grafana dashboard (docs/grafana/actors.json) as the tests see it: its text
// and the metrics its queries use. Meson gives its path in GRAFANA_DASHBOARD.

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>

namespace actors::test {

/// The dashboard's JSON text; throws if meson did not say where it is.
inline std::string dashboard_text() {
  const char* file = std::getenv("GRAFANA_DASHBOARD");
  if (!file)
    throw std::runtime_error("GRAFANA_DASHBOARD is not set (meson sets it for this test)");
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty())
    throw std::runtime_error(std::string("the dashboard ") + file + " is missing or empty");
  return text;
}

/// Every actors_* metric the dashboard names, a histogram's series under the
/// histogram's own name.
inline std::set<std::string> dashboard_metrics(const std::string& text) {
  std::set<std::string> used;
  const std::regex name("actors_[a-z_]+");
  const std::regex series_suffix("_(bucket|sum|count)$");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it)
    used.insert(std::regex_replace(it->str(), series_suffix, ""));
  return used;
}

} // namespace actors::test
