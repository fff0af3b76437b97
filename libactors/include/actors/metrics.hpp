#pragma once

/// User metrics, exported in the Prometheus text format by the `/metrics`
/// endpoint of the node the code runs on (inside a task or method: that node).
/// Names follow Prometheus conventions: `snake_case`, a unit suffix, `_total` for
/// counters. A metric is created once per process for a name and label set;
/// creating it again returns the same one. Thread-safe.
///
///     actors::metrics::counter requests("app_requests_total", "Requests served", {{"route", "/"}});
///     requests.inc();

#include <map>
#include <string>
#include <vector>

namespace actors::metrics {

namespace detail {
struct handle; // a registered prometheus-cpp metric (runtime)

handle* counter_handle(const std::string& name, const std::string& help,
                       const std::map<std::string, std::string>& labels);
handle* gauge_handle(const std::string& name, const std::string& help,
                     const std::map<std::string, std::string>& labels);
handle* histogram_handle(const std::string& name, const std::string& help,
                         const std::map<std::string, std::string>& labels,
                         const std::vector<double>& buckets);
void add(handle* h, double v);
void set(handle* h, double v);
void observe(handle* h, double v);
} // namespace detail

/// A value that only goes up.
class counter {
 public:
  counter(const std::string& name, const std::string& help,
          const std::map<std::string, std::string>& labels = {})
    : h_(detail::counter_handle(name, help, labels)) {}
  /// Adds `v` (0 or more).
  void inc(double v = 1) {
    detail::add(h_, v);
  }

 private:
  detail::handle* h_;
};

/// A value that goes up and down.
class gauge {
 public:
  gauge(const std::string& name, const std::string& help,
        const std::map<std::string, std::string>& labels = {})
    : h_(detail::gauge_handle(name, help, labels)) {}
  void set(double v) {
    detail::set(h_, v);
  }
  void inc(double v = 1) {
    detail::add(h_, v);
  }
  void dec(double v = 1) {
    detail::add(h_, -v);
  }

 private:
  detail::handle* h_;
};

/// Counts observations in buckets with the given upper bounds.
class histogram {
 public:
  histogram(const std::string& name, const std::string& help, const std::vector<double>& buckets,
            const std::map<std::string, std::string>& labels = {})
    : h_(detail::histogram_handle(name, help, labels, buckets)) {}
  void observe(double v) {
    detail::observe(h_, v);
  }

 private:
  detail::handle* h_;
};

} // namespace actors::metrics
