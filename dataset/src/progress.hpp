#pragma once

// Live progress of a dataset's consumption on a terminal: one line per operator
// stage running in this program, redrawn as blocks finish, cleared when the
// stage ends.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace actors::data::detail {

/// What one progress line says: `what`, blocks done of total, rows, the rate
/// and the time left (once a block is done), fitted into `width` columns.
std::string progress_text(const std::string& what, std::size_t done, std::size_t total, std::uint64_t rows,
                          std::chrono::duration<double> elapsed, std::size_t width);

/// A stage's line while it lives, drawn only when actors::show_progress() (a
/// terminal, not turned off). Use from the thread that runs the stage.
class progress_line {
 public:
  progress_line(std::string what, std::size_t blocks);
  ~progress_line();
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

  /// One more block done, which made `rows` rows.
  void block_done(std::uint64_t rows);

 private:
  std::size_t id_ = 0; // 0: not drawn
};

} // namespace actors::data::detail
