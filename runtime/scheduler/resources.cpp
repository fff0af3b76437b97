#include "runtime/scheduler/resources.hpp"

#include <algorithm>
#include <sstream>

namespace actors::runtime {

namespace {

void normalise(std::vector<std::pair<std::string, double>>& xs) {
  std::sort(xs.begin(), xs.end());
  std::vector<std::pair<std::string, double>> out;
  for (auto& [name, amount] : xs) {
    if (!out.empty() && out.back().first == name)
      out.back().second += amount;
    else
      out.emplace_back(name, amount);
  }
  std::erase_if(out, [](const auto& x) { return x.second == 0; });
  xs = std::move(out);
}

double amount_of(const std::vector<std::pair<std::string, double>>& xs, const std::string& name) {
  auto i = std::lower_bound(xs.begin(), xs.end(), name,
                            [](const auto& x, const std::string& n) { return x.first < n; });
  return i != xs.end() && i->first == name ? i->second : 0;
}

// Amounts are sums of user-given doubles; allow for rounding.
constexpr double epsilon = 1e-9;

} // namespace

resource_set resource_set::from(double cpu, const detail::resource_list& extra) {
  resource_set r;
  r.cpu = cpu;
  for (const auto& [name, amount] : extra) {
    if (name == "CPU")
      r.cpu += amount;
    else
      r.custom.emplace_back(name, amount);
  }
  normalise(r.custom);
  return r;
}

resource_set resource_set::from(double cpu, const std::map<std::string, double>& extra) {
  return from(cpu, detail::resource_list(extra.begin(), extra.end()));
}

std::map<std::string, double> resource_set::to_map() const {
  std::map<std::string, double> m{{"CPU", cpu}};
  for (const auto& [name, amount] : custom)
    m[name] = amount;
  return m;
}

bool resource_set::fits(const resource_set& demand) const {
  if (demand.cpu > cpu + epsilon)
    return false;
  for (const auto& [name, amount] : demand.custom)
    if (amount > amount_of(custom, name) + epsilon)
      return false;
  return true;
}

void resource_set::subtract(const resource_set& demand) {
  cpu -= demand.cpu;
  for (const auto& [name, amount] : demand.custom) {
    auto i = std::lower_bound(custom.begin(), custom.end(), name,
                              [](const auto& x, const std::string& n) { return x.first < n; });
    if (i != custom.end() && i->first == name)
      i->second -= amount;
    else
      custom.insert(i, {name, -amount});
  }
}

void resource_set::add(const resource_set& demand) {
  cpu += demand.cpu;
  for (const auto& [name, amount] : demand.custom) {
    auto i = std::lower_bound(custom.begin(), custom.end(), name,
                              [](const auto& x, const std::string& n) { return x.first < n; });
    if (i != custom.end() && i->first == name)
      i->second += amount;
    else
      custom.insert(i, {name, amount});
  }
}

std::string resource_set::to_string() const {
  std::ostringstream os;
  os << "CPU=" << cpu;
  for (const auto& [name, amount] : custom)
    os << ", " << name << "=" << amount;
  return os.str();
}

} // namespace actors::runtime
