// A run's files (see storage.hpp), written with nlohmann-json and plain CSV.

#include "storage.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace actors::tune::detail {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos)
    return s;
  std::string out = "\"";
  for (char c : s)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string number(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

json to_json(const param_value& v) {
  switch (v.type()) {
    case param_value::kind::real: return v.as_double();
    case param_value::kind::integer: return v.as_integer();
    case param_value::kind::text: return v.as_text();
  }
  return nullptr;
}

param_value from_json(const json& j) {
  if (j.is_number_integer())
    return static_cast<long long>(j.get<std::int64_t>());
  if (j.is_number())
    return j.get<double>();
  return j.get<std::string>();
}

json to_json(const config& c) {
  json j = json::object();
  for (const auto& [n, v] : c.values())
    j[n] = to_json(v);
  return j;
}

json to_json(const trial& t) {
  json history = json::array();
  for (const auto& r : t.history)
    history.push_back({{"step", r.step}, {"metrics", r.values}});
  return {{"id", t.id},          {"config", to_json(t.config)}, {"state", to_string(t.state)},
          {"steps", t.steps},    {"metrics", t.metrics},        {"error", t.error},
          {"failures", t.failures}, {"history", history}};
}

trial_state state_of(const std::string& s) {
  for (auto st : {trial_state::pending, trial_state::running, trial_state::terminated, trial_state::stopped,
                  trial_state::error})
    if (s == to_string(st))
      return st;
  return trial_state::pending;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trial_dir(std::size_t id) {
  return "trial_" + std::to_string(id);
}

} // namespace

void write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out)
      throw error(errc::invalid_argument, "cannot write " + tmp + ": check that its directory exists and is "
                                          "writable, and that the disk has room");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot rename " + tmp + " to " + path + ": " + ec.message());
}

std::string trials_csv(const std::vector<trial>& trials) {
  std::set<std::string> metric_names, params;
  for (const auto& t : trials) {
    for (const auto& [n, v] : t.metrics)
      metric_names.insert(n);
    for (const auto& [n, v] : t.config.values())
      params.insert(n);
  }
  std::string out = "trial_id,state,steps";
  for (const auto& n : metric_names)
    out.append(",").append(csv_field(n));
  for (const auto& n : params)
    out.append(",").append(csv_field("config/" + n));
  out += ",error\n";
  for (const auto& t : trials) {
    out.append(std::to_string(t.id)).append(",").append(to_string(t.state)).append(",").append(
      std::to_string(t.steps));
    for (const auto& n : metric_names) {
      auto it = t.metrics.find(n);
      out.append(",").append(it == t.metrics.end() ? std::string() : number(it->second));
    }
    for (const auto& n : params)
      out.append(",").append(t.config.contains(n) ? csv_field(t.config.at(n).to_string()) : std::string());
    out.append(",").append(csv_field(t.error)).append("\n");
  }
  return out;
}

run_storage::run_storage(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty())
    return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_))
    throw error(errc::invalid_argument, "storage(\"" + dir_ + "\"): cannot make the directory ("
                                          + (ec ? ec.message() : std::string("not a directory"))
                                          + "); give a writable path");
}

void run_storage::clear() {
  if (!enabled())
    return;
  for (const auto& e : fs::directory_iterator(dir_)) {
    auto name = e.path().filename().string();
    if (name.rfind("trial_", 0) == 0 || name == "experiment.json" || name == "results.csv" || name == "results.json")
      fs::remove_all(e.path());
  }
}

namespace {
json experiment_json(const run_settings& s, std::size_t num_trials) {
  return {{"metric", s.metric},           {"mode", s.mode == objective::min ? "min" : "max"},
          {"num_samples", s.num_samples}, {"max_steps", s.max_steps},
          {"seed", s.seed},               {"scheduler", name_of(s.scheduler)},
          {"trials", num_trials}};
}
} // namespace

void run_storage::write_experiment(const run_settings& s, std::size_t num_trials) {
  if (enabled())
    write_file(dir_ + "/experiment.json", experiment_json(s, num_trials).dump(2) + "\n");
}

void run_storage::check_experiment(const run_settings& s, std::size_t num_trials) const {
  if (!enabled())
    throw error(errc::invalid_argument, "resume() needs storage(dir): the directory of the run to continue");
  fs::path p = fs::path(dir_) / "experiment.json";
  if (!fs::exists(p))
    throw error(errc::invalid_argument, "resume(): " + p.string() + " does not exist: there is no run to resume in "
                                          + dir_ + "; start one with run()");
  json stored;
  try {
    stored = json::parse(read_file(p));
  } catch (const std::exception& e) {
    throw error(errc::invalid_argument, "resume(): " + p.string() + " is not valid JSON (" + e.what() + ")");
  }
  json now = experiment_json(s, num_trials);
  for (const auto& [k, v] : now.items())
    if (!stored.contains(k) || stored[k] != v)
      throw error(errc::invalid_argument, "resume(): the run in " + dir_ + " has " + k + " = "
                                            + (stored.contains(k) ? stored[k].dump() : std::string("nothing"))
                                            + ", this tuner " + v.dump() + "; resume with the run's own options");
}

void run_storage::write_trial(const trial& t) {
  if (!enabled())
    return;
  fs::path d = fs::path(dir_) / trial_dir(t.id);
  fs::create_directories(d);
  write_file((d / "trial.json").string(), to_json(t).dump(2) + "\n");
  std::set<std::string> names;
  for (const auto& r : t.history)
    for (const auto& [n, v] : r.values)
      names.insert(n);
  std::string csv = "step";
  for (const auto& n : names)
    csv.append(",").append(csv_field(n));
  csv += "\n";
  for (const auto& r : t.history) {
    csv += std::to_string(r.step);
    for (const auto& n : names) {
      auto it = r.values.find(n);
      csv.append(",").append(it == r.values.end() ? std::string() : number(it->second));
    }
    csv += "\n";
  }
  write_file((d / "history.csv").string(), csv);
}

void run_storage::write_checkpoint(std::size_t id, const std::string& checkpoint, std::size_t step) {
  if (!enabled())
    return;
  fs::path d = fs::path(dir_) / trial_dir(id);
  fs::create_directories(d);
  write_file((d / "checkpoint.bin").string(), checkpoint);
  write_file((d / "checkpoint.json").string(), json{{"step", step}}.dump() + "\n");
}

void run_storage::write_results(const std::vector<trial>& trials, const std::string& metric) {
  if (!enabled())
    return;
  write_file(dir_ + "/results.csv", trials_csv(trials));
  json rows = json::array();
  for (const auto& t : trials)
    rows.push_back({{"id", t.id},
                    {"state", to_string(t.state)},
                    {"steps", t.steps},
                    {"config", to_json(t.config)},
                    {"metrics", t.metrics},
                    {"error", t.error}});
  write_file(dir_ + "/results.json", json{{"metric", metric}, {"trials", rows}}.dump(2) + "\n");
}

std::vector<stored_trial> run_storage::read_trials(std::size_t num_trials) const {
  std::vector<stored_trial> out;
  for (std::size_t id = 0; id < num_trials; ++id) {
    fs::path d = fs::path(dir_) / trial_dir(id);
    if (!fs::exists(d / "trial.json"))
      continue;
    try {
      json j = json::parse(read_file(d / "trial.json"));
      stored_trial s;
      s.t.id = id;
      for (const auto& [n, v] : j.at("config").items())
        s.t.config.set(n, from_json(v));
      s.t.state = state_of(j.at("state").get<std::string>());
      s.t.steps = j.at("steps").get<std::size_t>();
      s.t.metrics = j.at("metrics").get<tune::metrics>();
      s.t.error = j.at("error").get<std::string>();
      s.t.failures = j.at("failures").get<std::size_t>();
      for (const auto& r : j.at("history"))
        s.t.history.push_back({r.at("step").get<std::size_t>(), r.at("metrics").get<tune::metrics>()});
      if (fs::exists(d / "checkpoint.bin") && fs::exists(d / "checkpoint.json")) {
        s.checkpoint = read_file(d / "checkpoint.bin");
        s.checkpoint_step = json::parse(read_file(d / "checkpoint.json")).at("step").get<std::size_t>();
      }
      out.push_back(std::move(s));
    } catch (const std::exception&) {
      // A trial file that cannot be read is run again from the start.
    }
  }
  return out;
}

} // namespace actors::tune::detail
