// A driver that runs tune_trainers.hpp's slow_run with storage DIR, for the
// tune test to kill mid-run and resume.
//
//   tune_driver DIR

#include "tests/unit/tune_trainers.hpp"

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: tune_driver STORAGE_DIR\n";
    return 2;
  }
  actors::init_options opts;
  opts.num_cpus = 2;
  opts.metrics_port = -1;
  actors::init(opts);
  slow_run(argv[1]).run();
  actors::shutdown();
}
