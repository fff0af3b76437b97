#pragma once

/// Search spaces, sampled configurations and the metrics a trial reports.
/// Pure values: nothing here needs a running cluster.
///
///     tune::search_space space{
///       {"lr",       tune::loguniform(1e-4, 1e-1)},
///       {"l2",       tune::choice({0.0, 1e-4, 1e-3})},
///       {"hidden",   tune::randint(8, 65)},        // [8, 65)
///       {"momentum", tune::grid({0.0, 0.9})},      // every value x num_samples
///     };
///     std::vector<tune::config> cs = tune::sample(space, 10, /*seed=*/1);

#include "actors/errors.hpp"

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors::tune {

/// What a trial reports after one step: metric name -> value, e.g.
/// {{"loss", 0.31}, {"accuracy", 0.9}}.
using metrics = std::map<std::string, double>;

/// One parameter's value: a number (floating or integral) or a text.
class param_value {
 public:
  enum class kind : std::uint8_t { real = 0, integer = 1, text = 2 };

  param_value() = default;
  param_value(double v) : kind_(kind::real), real_(v) {}
  param_value(float v) : kind_(kind::real), real_(v) {}
  param_value(int v) : kind_(kind::integer), integer_(v) {}
  param_value(long v) : kind_(kind::integer), integer_(v) {}
  param_value(long long v) : kind_(kind::integer), integer_(v) {}
  param_value(const char* v) : kind_(kind::text), text_(v) {}
  param_value(std::string v) : kind_(kind::text), text_(std::move(v)) {}

  kind type() const noexcept {
    return kind_;
  }
  bool is_number() const noexcept {
    return kind_ != kind::text;
  }
  /// The value as a double; throws actors::error (invalid_argument) for a text.
  double as_double() const;
  /// The value as an integer (a real is rounded to nearest); throws for a text.
  std::int64_t as_integer() const;
  /// The text; throws actors::error (invalid_argument) for a number.
  const std::string& as_text() const;
  /// The value as written in CSV and tables: 0.001, 12, relu.
  std::string to_string() const;

  friend bool operator==(const param_value& a, const param_value& b) noexcept {
    return a.kind_ == b.kind_ && a.real_ == b.real_ && a.integer_ == b.integer_ && a.text_ == b.text_;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& kind_& real_& integer_& text_;
  }

 private:
  kind kind_ = kind::real;
  double real_ = 0;
  std::int64_t integer_ = 0;
  std::string text_;
};

/// The values of one trial's parameters, by name. Serializable, so it can be an
/// actor factory's argument.
class config {
 public:
  config() = default;
  config(std::initializer_list<std::pair<const std::string, param_value>> values) : values_(values) {}

  /// The parameter `name` as T (a number type or std::string). Throws
  /// actors::error (invalid_argument) naming the parameter when it is missing or
  /// of the wrong kind.
  template <class T>
  T get(const std::string& name) const {
    const param_value& v = at(name);
    check_kind(name, v, std::is_same_v<T, std::string>);
    if constexpr (std::is_same_v<T, std::string>)
      return v.as_text();
    else if constexpr (std::is_same_v<T, bool>)
      return v.as_integer() != 0;
    else if constexpr (std::is_integral_v<T>)
      return static_cast<T>(v.as_integer());
    else if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(v.as_double());
    else
      static_assert(std::is_arithmetic_v<T>, "config::get<T>: T is a number type or std::string");
  }

  /// The value of `name`; throws actors::error (invalid_argument) listing the
  /// parameters there are when it is missing.
  const param_value& at(const std::string& name) const;
  bool contains(const std::string& name) const {
    return values_.count(name) != 0;
  }
  void set(const std::string& name, param_value v) {
    values_[name] = std::move(v);
  }
  const std::map<std::string, param_value>& values() const noexcept {
    return values_;
  }
  /// "lr=0.001 hidden=12", names in order.
  std::string to_string() const;

  friend bool operator==(const config& a, const config& b) noexcept {
    return a.values_ == b.values_;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& values_;
  }

 private:
  /// Throws actors::error (invalid_argument) naming `name` when `v` is a number
  /// read as a text or a text read as a number.
  static void check_kind(const std::string& name, const param_value& v, bool want_text);

  std::map<std::string, param_value> values_;
};

/// How one parameter is drawn. Made by uniform, loguniform, randint, choice and
/// grid.
struct domain {
  enum class kind : std::uint8_t { uniform, loguniform, randint, choice, grid };
  kind type = kind::uniform;
  double low = 0;
  double high = 1;
  std::vector<param_value> values; ///< choice and grid
};

/// A real drawn uniformly from [low, high).
inline domain uniform(double low, double high) {
  return {domain::kind::uniform, low, high, {}};
}
/// A real whose logarithm is uniform over [log low, log high); 0 < low < high.
inline domain loguniform(double low, double high) {
  return {domain::kind::loguniform, low, high, {}};
}
/// An integer drawn uniformly from [low, high).
inline domain randint(std::int64_t low, std::int64_t high) {
  return {domain::kind::randint, static_cast<double>(low), static_cast<double>(high), {}};
}
/// One of `values`, each as likely.
inline domain choice(std::vector<param_value> values) {
  return {domain::kind::choice, 0, 0, std::move(values)};
}
/// Every one of `values`: the configurations are the cross product of every grid
/// parameter, each repeated num_samples times (as Ray does).
inline domain grid(std::vector<param_value> values) {
  return {domain::kind::grid, 0, 0, std::move(values)};
}

/// Named parameters and how each is drawn, in the order given.
using search_space = std::vector<std::pair<std::string, domain>>;

/// Throws actors::error (invalid_argument) saying which parameter is wrong and
/// why: an empty name or one given twice, low >= high, a loguniform low <= 0, an
/// empty choice or grid, a bound that is not finite.
void check_space(const search_space& space);

/// The configurations of a run: num_samples draws for each point of the grid
/// (the cross product of the grid parameters; one point if there are none), in
/// a fixed order. The same space, num_samples and seed give the same list.
/// Throws as check_space, and for num_samples == 0.
std::vector<config> sample(const search_space& space, std::size_t num_samples, std::uint64_t seed);

/// One fresh draw of parameter `d` with random bits from `state` (advanced);
/// what pbt uses to resample.
param_value draw(const domain& d, std::uint64_t& state);

} // namespace actors::tune
