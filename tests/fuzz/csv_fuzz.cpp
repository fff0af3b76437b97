// Fuzzes the CSV parser of read_csv: the files a dataset reads come from anyone who
// can write them. Whatever parses must survive the writer: writing the records back
// with the same quoting and parsing them again gives the same records.

#include "fuzz_target.hpp"

#include "actors/data/block.hpp"
#include "actors/data/row.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::vector<std::string>> records;
  try {
    records = actors::data::detail::parse_csv(text, "fuzz.csv");
  } catch (const actors::error&) {
    return 0; // refused with a message: fine
  }
  std::string again;
  for (const auto& r : records) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i)
        again += ',';
      actors::data::detail::append_csv_field(again, r[i]);
    }
    again += '\n';
  }
  if (actors::data::detail::parse_csv(again, "again.csv") != records)
    actors::fuzz::fail("records written back and parsed again differ");
  return 0;
}
