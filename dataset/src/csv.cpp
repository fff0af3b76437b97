// CSV records: parsing, typed access to fields, writing.

#include "actors/data/block.hpp"
#include "actors/data/row.hpp"

#include <fstream>
#include <sstream>

namespace actors::data {

namespace {

std::string describe(const std::string& source, std::uint64_t line) {
  if (source.empty())
    return "a row built in code";
  return source + " line " + std::to_string(line);
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) {
    if (!out.empty())
      out += ',';
    out += x;
  }
  return out;
}

const std::vector<std::string>& no_columns() {
  static const std::vector<std::string> none;
  return none;
}

} // namespace

row::row(std::shared_ptr<std::vector<std::string>> columns, std::vector<std::string> values,
         std::string source, std::uint64_t line)
  : columns_(std::move(columns)), values_(std::move(values)), source_(std::move(source)), line_(line) {}

row::row(std::vector<std::string> columns, std::vector<std::string> values)
  : columns_(std::make_shared<std::vector<std::string>>(std::move(columns))), values_(std::move(values)) {
  if (columns_->size() != values_.size())
    throw error(errc::invalid_argument, "row: " + std::to_string(columns_->size()) + " columns ("
                                          + join(*columns_) + ") but " + std::to_string(values_.size())
                                          + " values; give one value per column");
}

const std::vector<std::string>& row::columns() const {
  return columns_ ? *columns_ : no_columns();
}

bool row::has(std::string_view column) const {
  for (const auto& c : columns())
    if (c == column)
      return true;
  return false;
}

std::size_t row::index_of(std::string_view column) const {
  const auto& cs = columns();
  for (std::size_t i = 0; i < cs.size() && i < values_.size(); ++i)
    if (cs[i] == column)
      return i;
  throw error(errc::invalid_argument, describe(source_, line_) + ": no column '" + std::string(column)
                                        + "' (the columns are: " + join(cs) + ")");
}

void row::parse_failed(std::string_view column, const char* type) const {
  throw error(errc::invalid_argument, describe(source_, line_) + ", column '" + std::string(column) + "': '"
                                        + values_[index_of(column)] + "' is not a valid " + type);
}

std::ostream& operator<<(std::ostream& os, const row& r) {
  std::string line;
  for (std::size_t i = 0; i < r.values_.size(); ++i) {
    if (i)
      line += ',';
    detail::append_csv_field(line, r.values_[i]);
  }
  return os << line;
}

namespace detail {

void append_csv_field(std::string& out, std::string_view field) {
  // An empty field is quoted: a record of one empty field would otherwise be an
  // empty line, which readers skip.
  if (!field.empty() && field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
}

std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& where,
                                                std::vector<std::uint64_t>* lines) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  std::uint64_t line = 1;
  std::uint64_t record_line = 1;
  bool quoted = false;
  bool any = false; // the current record has content
  std::size_t i = 0;
  auto end_record = [&] {
    record.push_back(std::move(field));
    field.clear();
    records.push_back(std::move(record));
    record.clear();
    if (lines)
      lines->push_back(record_line);
    any = false;
  };
  while (i < text.size()) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c == '\n')
          ++line;
        field += c;
      }
      ++i;
      continue;
    }
    if (!any)
      record_line = line;
    if (c == '"' && field.empty()) {
      quoted = true;
      any = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (any)
        end_record();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      ++line;
    } else {
      field += c;
      any = true;
    }
    ++i;
  }
  if (quoted)
    throw error(errc::invalid_argument, where + " line " + std::to_string(record_line)
                                          + ": a quoted field is not closed before the end of the file; "
                                            "close it with \"");
  if (any)
    end_record();
  return records;
}

std::vector<row> read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw error(errc::invalid_argument, "read_csv: cannot open " + path + ": check that the file exists "
                                                                          "and is readable on every node");
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  std::vector<std::uint64_t> lines;
  auto records = parse_csv(text, path, &lines);
  std::vector<row> rows;
  if (records.empty())
    return rows;
  auto columns = std::make_shared<std::vector<std::string>>(std::move(records.front()));
  rows.reserve(records.size() - 1);
  for (std::size_t i = 1; i < records.size(); ++i) {
    if (records[i].size() != columns->size())
      throw error(errc::invalid_argument, "read_csv: " + path + " line " + std::to_string(lines[i]) + ": "
                                            + std::to_string(records[i].size()) + " fields where the header ("
                                            + join(*columns) + ") has " + std::to_string(columns->size())
                                            + "; fix or remove that line");
    rows.emplace_back(columns, std::move(records[i]), path, lines[i]);
  }
  return rows;
}

} // namespace detail
} // namespace actors::data
