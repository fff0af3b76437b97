// Tunes the learning rate, L2 penalty and momentum of a logistic regression
// trained by SGD, with early stopping by ASHA. The two-class data set is made by
// a dataset pipeline; each trial is an actor that trains one epoch per step.
//
//   build/examples/tune_logreg                          # embedded cluster
//   build/examples/tune_logreg --actors-local-nodes=3   # three processes
//   build/examples/tune_logreg runs/logreg              # keep the run's files there

#include <actors/actors.hpp>
#include <actors/dataset.hpp>
#include <actors/tune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace data = actors::data;
namespace tune = actors::tune;

// -- the data set: two overlapping clouds of points, made on the nodes ---------------

/// A hash of (i, salt) spread uniformly over (0, 1).
double uniform01(std::int64_t i, std::uint64_t salt) {
  std::uint64_t z = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL + salt;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (static_cast<double>(z >> 11) + 0.5) * 0x1.0p-53;
}

/// Example i: {x1, x2, label}. Class 1 is centred at (1, 1), class 0 at
/// (-1, -0.5), both with unit spread (Box-Muller), so the classes overlap a little.
std::vector<double> make_example(const std::int64_t& i) {
  double label = i % 2;
  double r = std::sqrt(-2 * std::log(uniform01(i, 1)));
  double a = 2 * M_PI * uniform01(i, 2);
  double cx = label == 1 ? 1.0 : -1.0;
  double cy = label == 1 ? 1.0 : -0.5;
  return {cx + r * std::cos(a), cy + r * std::sin(a), label};
}

ACTORS_REMOTE(make_example);

// -- the trainer: one actor per trial ---------------------------------------------

/// Logistic regression on (x1, x2) trained by mini-batch SGD with momentum and an
/// L2 penalty. The first 80% of the rows train it, the rest validate it.
class logreg_trainer {
 public:
  explicit logreg_trainer(tune::config c)
    : lr_(c.get<double>("lr")), l2_(c.get<double>("l2")), momentum_(c.get<double>("momentum")) {
    std::ifstream in(c.get<std::string>("data"));
    for (double x1, x2, y; in >> x1 >> x2 >> y;)
      rows_.push_back({x1, x2, y});
    if (rows_.size() < 10)
      throw std::runtime_error("the data file " + c.get<std::string>("data") + " holds " + std::to_string(rows_.size())
                               + " rows; it needs at least 10");
    train_ = rows_.size() * 8 / 10;
  }

  /// One epoch over the training rows; the validation loss and accuracy.
  tune::metrics step() {
    const std::size_t batch = 32;
    for (std::size_t lo = 0; lo < train_; lo += batch) {
      double g[3] = {0, 0, 0};
      std::size_t hi = std::min(train_, lo + batch);
      for (std::size_t i = lo; i < hi; ++i) {
        double err = predict(rows_[i]) - rows_[i][2];
        g[0] += err * rows_[i][0];
        g[1] += err * rows_[i][1];
        g[2] += err;
      }
      for (int k = 0; k < 3; ++k) {
        double grad = g[k] / static_cast<double>(hi - lo) + (k < 2 ? l2_ * w_[k] : 0);
        v_[k] = momentum_ * v_[k] - lr_ * grad;
        w_[k] += v_[k];
      }
    }
    double loss = 0, correct = 0;
    for (std::size_t i = train_; i < rows_.size(); ++i) {
      double p = std::clamp(predict(rows_[i]), 1e-12, 1 - 1e-12);
      double y = rows_[i][2];
      loss -= y * std::log(p) + (1 - y) * std::log(1 - p);
      correct += (p >= 0.5) == (y == 1);
    }
    double n = static_cast<double>(rows_.size() - train_);
    return {{"loss", loss / n}, {"accuracy", correct / n}};
  }

  std::string save() const {
    std::ostringstream out;
    out.precision(17);
    for (int k = 0; k < 3; ++k)
      out << w_[k] << " " << v_[k] << " ";
    return out.str();
  }
  void restore(const std::string& checkpoint) {
    std::istringstream in(checkpoint);
    for (int k = 0; k < 3; ++k)
      in >> w_[k] >> v_[k];
  }

 private:
  double predict(const std::vector<double>& r) const {
    return 1 / (1 + std::exp(-(w_[0] * r[0] + w_[1] * r[1] + w_[2])));
  }

  double lr_, l2_, momentum_;
  std::vector<std::vector<double>> rows_;
  std::size_t train_ = 0;
  double w_[3] = {0, 0, 0};
  double v_[3] = {0, 0, 0};
};

logreg_trainer make_logreg_trainer(tune::config c) {
  return logreg_trainer(std::move(c));
}

ACTORS_REMOTE(make_logreg_trainer, &logreg_trainer::step, &logreg_trainer::save, &logreg_trainer::restore);

int main(int argc, char** argv) {
  actors::init(argc, argv);
  bool keep = argc > 1 && std::string(argv[1]).rfind("--", 0) != 0;
  std::string storage =
    keep ? argv[1]
         : (std::filesystem::temp_directory_path() / ("actors-tune-logreg-" + std::to_string(::getpid()))).string();

  // The data set, made and shuffled by a dataset pipeline, then kept in a file
  // every trial reads (on this host).
  auto rows = data::range(2000, 4).map(make_example).random_shuffle(7).collect();
  std::filesystem::create_directories(storage);
  std::string data_file = storage + "/data.txt";
  {
    std::ofstream out(data_file);
    out.precision(17);
    for (const auto& r : rows)
      out << r[0] << " " << r[1] << " " << r[2] << "\n";
  }

  tune::search_space space{
    {"lr", tune::loguniform(1e-4, 1.0)},
    {"l2", tune::choice({0.0, 1e-4, 1e-2})},
    {"momentum", tune::grid({0.0, 0.9})},
    {"data", tune::choice({data_file})},
  };
  auto result = tune::tuner(make_logreg_trainer, &logreg_trainer::step)
                  .checkpoint(&logreg_trainer::save, &logreg_trainer::restore)
                  .space(space)
                  .metric("loss", tune::min)
                  .num_samples(6)
                  .max_steps(9)
                  .seed(1)
                  .scheduler(tune::asha{.grace_steps = 1, .reduction_factor = 3})
                  .max_concurrent(2)
                  .storage(storage)
                  .run();

  const tune::trial& best = result.best();
  std::cout << rows.size() << " examples, " << result.trials().size() << " trials: "
            << result.count(tune::trial_state::terminated) << " ran to the end, "
            << result.count(tune::trial_state::stopped) << " stopped early\n"
            << "best config: lr=" << best.config.get<double>("lr") << " l2=" << best.config.get<double>("l2")
            << " momentum=" << best.config.get<double>("momentum") << "\n"
            << "validation loss " << best.metrics.at("loss") << ", accuracy " << best.metrics.at("accuracy")
            << " after " << best.steps << " epochs\n"
            << (keep ? "results in " + storage + "/results.csv\n" : std::string());
  actors::shutdown();
  if (!keep)
    std::filesystem::remove_all(storage);
}
