#pragma once

// A run's files under its storage directory:
//
//   experiment.json            the run's settings (checked by resume)
//   results.csv, results.json  one row per trial, rewritten after each result
//   trial_<id>/history.csv     every step's metrics
//   trial_<id>/trial.json      config, state, steps, error, history
//   trial_<id>/checkpoint.bin  the last checkpoint, if the trainer has one
//
// Every file is written to a temporary name and renamed, so a driver killed
// mid-write leaves the previous version whole.

#include "actors/tune/tuner.hpp"

#include <optional>
#include <string>
#include <vector>

namespace actors::tune::detail {

/// A trial as kept on disk: the trial and the step its checkpoint was taken at.
struct stored_trial {
  trial t;
  std::optional<std::string> checkpoint;
  std::size_t checkpoint_step = 0;
};

class run_storage {
 public:
  /// Uses `dir` (creating it); an empty dir keeps nothing. Throws actors::error
  /// when the directory cannot be made.
  explicit run_storage(std::string dir);

  bool enabled() const noexcept {
    return !dir_.empty();
  }
  /// Removes a previous run's files (run(), not resume()).
  void clear();
  void write_experiment(const run_settings& s, std::size_t num_trials);
  /// Throws actors::error (invalid_argument) when the stored run's settings
  /// differ from `s`, or when there is no run to resume.
  void check_experiment(const run_settings& s, std::size_t num_trials) const;
  void write_trial(const trial& t);
  void write_checkpoint(std::size_t id, const std::string& checkpoint, std::size_t step);
  void write_results(const std::vector<trial>& trials, const std::string& metric);
  /// The trials stored, by id; a missing or unreadable one is left out.
  std::vector<stored_trial> read_trials(std::size_t num_trials) const;

 private:
  std::string dir_;
};

/// Trials as CSV: id, state, steps, every metric, every parameter, error.
std::string trials_csv(const std::vector<trial>& trials);
/// Writes `text` to `path` through a temporary file and a rename.
void write_file(const std::string& path, const std::string& text);

} // namespace actors::tune::detail
