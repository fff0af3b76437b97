// Search spaces: validation and seeded sampling. The random numbers come from
// splitmix64 and are turned into doubles by hand, not by <random>'s
// distributions, whose output differs between standard libraries: a seed gives
// the same configurations wherever the run is repeated.

#include "actors/tune/space.hpp"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace actors::tune {

namespace {

std::uint64_t next_bits(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Uniform in [0, 1).
double unit(std::uint64_t& state) {
  return static_cast<double>(next_bits(state) >> 11) * 0x1.0p-53;
}

/// Uniform in [0, n), n > 0.
std::size_t below(std::uint64_t& state, std::size_t n) {
  return static_cast<std::size_t>(next_bits(state) % n);
}

const char* kind_name(domain::kind k) {
  switch (k) {
    case domain::kind::uniform: return "uniform";
    case domain::kind::loguniform: return "loguniform";
    case domain::kind::randint: return "randint";
    case domain::kind::choice: return "choice";
    case domain::kind::grid: return "grid";
  }
  return "?";
}

[[noreturn]] void bad_space(const std::string& name, const std::string& why) {
  throw error(errc::invalid_argument, "search space: parameter \"" + name + "\": " + why);
}

} // namespace

double param_value::as_double() const {
  switch (kind_) {
    case kind::real: return real_;
    case kind::integer: return static_cast<double>(integer_);
    case kind::text: break;
  }
  throw error(errc::invalid_argument, "parameter value \"" + text_ + "\" is a text, not a number: read it with "
                                      "get<std::string>");
}

std::int64_t param_value::as_integer() const {
  switch (kind_) {
    case kind::real: return static_cast<std::int64_t>(std::llround(real_));
    case kind::integer: return integer_;
    case kind::text: break;
  }
  throw error(errc::invalid_argument, "parameter value \"" + text_ + "\" is a text, not a number: read it with "
                                      "get<std::string>");
}

const std::string& param_value::as_text() const {
  if (kind_ != kind::text)
    throw error(errc::invalid_argument, "parameter value " + to_string() + " is a number, not a text: read it "
                                        "with get<double> or get<int>");
  return text_;
}

std::string param_value::to_string() const {
  switch (kind_) {
    case kind::real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", real_);
      return buf;
    }
    case kind::integer: return std::to_string(integer_);
    case kind::text: return text_;
  }
  return {};
}

const param_value& config::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    std::string have;
    for (const auto& [n, v] : values_)
      have += (have.empty() ? "" : ", ") + n;
    throw error(errc::invalid_argument, "config has no parameter \"" + name + "\" (it has: "
                                          + (have.empty() ? "none" : have) + "); add it to the search space");
  }
  return it->second;
}

void config::check_kind(const std::string& name, const param_value& v, bool want_text) {
  if (want_text && v.is_number())
    throw error(errc::invalid_argument, "parameter \"" + name + "\" is the number " + v.to_string()
                                          + ", not a text: read it with get<double> or get<int>");
  if (!want_text && !v.is_number())
    throw error(errc::invalid_argument, "parameter \"" + name + "\" is the text \"" + v.as_text()
                                          + "\", not a number: read it with get<std::string>");
}

std::string config::to_string() const {
  std::string out;
  for (const auto& [n, v] : values_)
    out += (out.empty() ? "" : " ") + n + "=" + v.to_string();
  return out;
}

void check_space(const search_space& space) {
  std::set<std::string> seen;
  for (const auto& [name, d] : space) {
    if (name.empty())
      throw error(errc::invalid_argument, "search space: a parameter has an empty name; give each a name");
    if (!seen.insert(name).second)
      bad_space(name, "given twice; give each parameter once");
    switch (d.type) {
      case domain::kind::uniform:
      case domain::kind::loguniform:
      case domain::kind::randint:
        if (!std::isfinite(d.low) || !std::isfinite(d.high))
          bad_space(name, std::string(kind_name(d.type)) + " bounds must be finite numbers");
        if (!(d.low < d.high))
          bad_space(name, std::string(kind_name(d.type)) + "(" + param_value(d.low).to_string() + ", "
                            + param_value(d.high).to_string() + ") is empty: the low bound must be below the high one");
        if (d.type == domain::kind::randint
            && (d.low != std::floor(d.low) || d.high != std::floor(d.high) || std::abs(d.low) > 0x1.0p53
                || std::abs(d.high) > 0x1.0p53))
          bad_space(name, "randint bounds must be whole numbers within +-2^53");
        if (d.type == domain::kind::loguniform && d.low <= 0)
          bad_space(name, "loguniform needs a low bound above 0 (it draws the logarithm)");
        break;
      case domain::kind::choice:
      case domain::kind::grid:
        if (d.values.empty())
          bad_space(name, std::string(kind_name(d.type)) + " has no values; give at least one");
        break;
      default:
        bad_space(name, "unknown kind of domain");
    }
  }
}

param_value draw(const domain& d, std::uint64_t& state) {
  switch (d.type) {
    case domain::kind::uniform: return d.low + (d.high - d.low) * unit(state);
    case domain::kind::loguniform: {
      double v = std::exp(std::log(d.low) + (std::log(d.high) - std::log(d.low)) * unit(state));
      return v < d.high ? v : d.low; // rounding may reach high, which is excluded
    }
    case domain::kind::randint: {
      auto lo = static_cast<std::int64_t>(d.low);
      auto span = static_cast<std::size_t>(static_cast<std::int64_t>(d.high) - lo);
      return static_cast<long long>(lo + static_cast<std::int64_t>(below(state, span)));
    }
    case domain::kind::choice:
    case domain::kind::grid: return d.values.at(below(state, d.values.size()));
  }
  return {};
}

std::vector<config> sample(const search_space& space, std::size_t num_samples, std::uint64_t seed) {
  check_space(space);
  if (num_samples == 0)
    throw error(errc::invalid_argument, "num_samples is 0: a run needs at least one sample");
  // The grid's points, first parameter varying slowest.
  std::vector<config> points{config{}};
  for (const auto& [name, d] : space) {
    if (d.type != domain::kind::grid)
      continue;
    std::vector<config> crossed;
    for (const auto& p : points)
      for (const auto& v : d.values) {
        config c = p;
        c.set(name, v);
        crossed.push_back(std::move(c));
      }
    points = std::move(crossed);
  }
  std::uint64_t state = seed;
  std::vector<config> out;
  out.reserve(points.size() * num_samples);
  for (std::size_t s = 0; s < num_samples; ++s)
    for (const auto& p : points) {
      config c = p;
      for (const auto& [name, d] : space)
        if (d.type != domain::kind::grid)
          c.set(name, draw(d, state));
      out.push_back(std::move(c));
    }
  return out;
}

} // namespace actors::tune
