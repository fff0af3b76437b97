#pragma once

#include <actors/errors.hpp>

#include <boost/serialization/shared_ptr.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <charconv>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace actors::data {

/// One record of a CSV file: its fields, typed access by column name, and where it
/// came from (file and line) for error messages.
///
///     double price = r.get<double>("price");
///     std::string region = r.get<std::string>("region");
class row {
 public:
  row() = default;
  row(std::shared_ptr<std::vector<std::string>> columns, std::vector<std::string> values,
      std::string source = {}, std::uint64_t line = 0);
  /// A row built in code: column names and values, in the same order.
  row(std::vector<std::string> columns, std::vector<std::string> values);

  /// The field in `column`, parsed as T (integers, floating point, bool, string).
  /// Throws actors::error (invalid_argument) naming the file, line and column when
  /// the column does not exist or the text is not a T.
  template <class T>
  T get(std::string_view column) const {
    const std::string& text = values_[index_of(column)];
    if constexpr (std::is_same_v<T, std::string>) {
      return text;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (text == "true" || text == "1")
        return true;
      if (text == "false" || text == "0")
        return false;
      parse_failed(column, "bool");
    } else if constexpr (std::is_arithmetic_v<T>) {
      T value{};
      auto first = text.data();
      auto last = text.data() + text.size();
      while (first != last && *first == ' ')
        ++first;
      while (last != first && last[-1] == ' ')
        --last;
      if (first != last && *first == '+')
        ++first;
      auto [end, ec] = std::from_chars(first, last, value);
      if (ec != std::errc{} || end != last || first == last)
        parse_failed(column, type_label<T>());
      return value;
    } else {
      static_assert(std::is_arithmetic_v<T>, "row::get<T>: T must be arithmetic, bool or std::string");
    }
  }

  /// The raw text of a field.
  const std::string& operator[](std::string_view column) const {
    return values_[index_of(column)];
  }
  bool has(std::string_view column) const;

  const std::vector<std::string>& columns() const;
  const std::vector<std::string>& values() const {
    return values_;
  }
  std::size_t size() const {
    return values_.size();
  }
  /// The file the row was read from (empty for a row built in code).
  const std::string& source() const {
    return source_;
  }
  /// Its line in that file (1 is the header).
  std::uint64_t line() const {
    return line_;
  }

  friend bool operator==(const row& a, const row& b) {
    return a.values_ == b.values_ && a.columns() == b.columns();
  }
  /// Rows compare by their fields' text, column by column.
  friend bool operator<(const row& a, const row& b) {
    return a.values_ < b.values_;
  }
  /// Writes the row as one CSV line (fields quoted where needed), no newline.
  friend std::ostream& operator<<(std::ostream& os, const row& r);

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & columns_ & values_ & source_ & line_;
  }

 private:
  std::size_t index_of(std::string_view column) const;
  [[noreturn]] void parse_failed(std::string_view column, const char* type) const;
  template <class T>
  static const char* type_label() {
    if constexpr (std::is_floating_point_v<T>)
      return "number";
    else
      return "integer";
  }

  std::shared_ptr<std::vector<std::string>> columns_;
  std::vector<std::string> values_;
  std::string source_;
  std::uint64_t line_ = 0;
};

namespace detail {

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold commas,
/// doubled quotes and line breaks). `where` names the text in errors. Throws
/// actors::error (invalid_argument) naming the line of an unterminated quote.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& where,
                                                std::vector<std::uint64_t>* lines = nullptr);

/// Reads a CSV file into rows named by its header line. Throws actors::error naming
/// the file and line of a record whose field count differs from the header's.
std::vector<row> read_csv_file(const std::string& path);

} // namespace detail

} // namespace actors::data
