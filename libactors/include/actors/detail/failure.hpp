#pragma once

#include "actors/errors.hpp"

#include <string>

namespace actors::detail {

/// Why an object has no value: what a failed task, a dead actor or a lost object
/// leaves in the object's place. Crosses nodes as is and becomes the matching
/// exception in `get`.
struct failure {
  errc code = errc::none;
  std::string message;
  /// For errc::task_failed: the registered name of the function or method.
  std::string function;
  /// For errc::task_failed: the node the code ran on.
  std::string node;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & code & message & function & node;
  }
};

/// Throws the exception type that matches `f.code`.
[[noreturn]] void raise(const failure& f);

} // namespace actors::detail
