#include "runtime/autoscaler/autoscale_config.hpp"

#include "actors/errors.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

namespace actors::runtime {

namespace {

// Walks `templ`: literal text goes to `out`, each {name} to `placeholder(name, out)`,
// which returns false for a name it does not know. "{{" and "}}" are literal braces.
// Returns what is wrong with the template, or "".
template <class Placeholder>
std::string walk_template(const std::string& templ, Placeholder&& placeholder, std::string& out) {
  for (std::size_t i = 0; i < templ.size(); ++i) {
    char c = templ[i];
    if ((c == '{' || c == '}') && i + 1 < templ.size() && templ[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '}') {
      return "a lone '}' at offset " + std::to_string(i) + "; write }} for a literal brace";
    } else if (c != '{') {
      out += c;
    } else {
      auto end = templ.find_first_of("{}", i + 1);
      if (end == std::string::npos || templ[end] != '}')
        return "the '{' at offset " + std::to_string(i) + " is not closed; write {{ for a literal brace";
      auto name = templ.substr(i + 1, end - i - 1);
      if (!placeholder(name, out))
        return "unknown placeholder {" + name + "} (write {{ and }} for literal braces)";
      i = end;
    }
  }
  return "";
}

std::string braced_list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names)
    text += (text.empty() ? "{" : ", {") + name + "}";
  return text;
}

std::string comma_list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names)
    text += (text.empty() ? "" : ", ") + name;
  return text;
}

int line_of(const YAML::Mark& mark) {
  return mark.line >= 0 ? mark.line + 1 : 1;
}

// What a node is, for "got ..." in messages.
std::string shown(const YAML::Node& node) {
  if (node.IsScalar())
    return "'" + node.Scalar() + "'";
  if (node.IsMap())
    return "a mapping";
  if (node.IsSequence())
    return "a list";
  return "nothing";
}

// One key of a mapping and its value.
struct entry {
  YAML::Node key;
  YAML::Node value;
};

// Reads one config file's YAML tree; every message starts with "SOURCE:LINE: ".
class config_reader {
 public:
  explicit config_reader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const YAML::Mark& at, const std::string& what) const {
    throw error(errc::invalid_argument, source_ + ":" + std::to_string(line_of(at)) + ": " + what);
  }

  // The entries of mapping `node` by key, in file order. Refuses keys given twice
  // and, unless `allowed` is empty, keys not in it. `where` names the mapping.
  std::vector<std::pair<std::string, entry>> entries(const YAML::Node& node, const std::string& where,
                                                     const std::vector<std::string>& allowed) const {
    std::vector<std::pair<std::string, entry>> result;
    std::map<std::string, int> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar())
        fail(it->first.Mark(), "a key in " + where + " is " + shown(it->first) + "; keys are plain names");
      auto name = it->first.Scalar();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end())
        fail(it->first.Mark(), "unknown key '" + name + "' in " + where + "; the keys are " + comma_list(allowed));
      auto [first, fresh] = seen.emplace(name, line_of(it->first.Mark()));
      if (!fresh)
        fail(it->first.Mark(), "key '" + name + "' in " + where + " is given twice (first on line " +
                                 std::to_string(first->second) + "); keep one");
      result.emplace_back(name, entry{it->first, it->second});
    }
    return result;
  }

  double number(const entry& e, const std::string& key, const std::string& example) const {
    if (e.value.IsScalar()) {
      try {
        double value = e.value.as<double>();
        if (std::isfinite(value))
          return value;
      } catch (const YAML::BadConversion&) {
      }
    }
    fail(e.key.Mark(), key + " must be a number, e.g. " + example + "; got " + shown(e.value));
  }

  double positive(const entry& e, const std::string& key, const std::string& example) const {
    double value = number(e, key, example);
    if (value <= 0)
      fail(e.key.Mark(), key + " must be greater than 0, e.g. " + example + "; got " + e.value.Scalar());
    return value;
  }

  int whole_number(const entry& e, const std::string& key, const std::string& example) const {
    if (e.value.IsScalar()) {
      try {
        return e.value.as<int>();
      } catch (const YAML::BadConversion&) {
      }
    }
    fail(e.key.Mark(), key + " must be a whole number, e.g. " + example + "; got " + shown(e.value));
  }

  std::string text(const entry& e, const std::string& key, const std::string& example) const {
    if (!e.value.IsScalar() || e.value.Scalar().empty())
      fail(e.key.Mark(), key + " must be a non-empty string, e.g. " + example + "; got " + shown(e.value));
    return e.value.Scalar();
  }

  std::vector<std::string> texts(const entry& e, const std::string& key, const std::string& example) const {
    if (!e.value.IsSequence())
      fail(e.key.Mark(), key + " must be a list of strings, e.g. " + example + "; got " + shown(e.value));
    std::vector<std::string> result;
    for (const auto& item : e.value) {
      if (!item.IsScalar() || item.Scalar().empty())
        fail(item.Mark(), "each item of " + key + " must be a non-empty string, e.g. " + example + "; got " +
                            shown(item));
      result.push_back(item.Scalar());
    }
    return result;
  }

 private:
  const std::string& source_;
};

const std::vector<std::string> top_keys = {"provider", "idle_timeout_s", "upscaling_speed", "launch_timeout_s",
                                           "node_types"};
const std::vector<std::string> provider_keys = {"type", "launch", "terminate", "hosts"};
const std::vector<std::string> node_type_keys = {"resources", "min_nodes", "max_nodes"};
const std::vector<std::string> any_key;

provider_config read_provider(const config_reader& in, const entry& section) {
  if (!section.value.IsMap())
    in.fail(section.key.Mark(), "provider must be a mapping, e.g. provider: {type: local}; got " +
                                  shown(section.value));
  provider_config result;
  std::map<std::string, entry> given;
  for (auto& [name, e] : in.entries(section.value, "provider", provider_keys))
    given.emplace(name, e);
  auto found = given.find("type");
  if (found == given.end())
    in.fail(section.key.Mark(), "provider has no type; write type: local or type: command");
  const entry& type = found->second;
  auto kind = in.text(type, "provider.type", "type: local");
  if (kind == "local")
    result.type = provider_kind::local;
  else if (kind == "command")
    result.type = provider_kind::command;
  else
    in.fail(type.key.Mark(), "provider.type must be local or command; got '" + kind + "'");

  if (result.type == provider_kind::local) {
    for (const char* key : {"launch", "terminate", "hosts"})
      if (auto it = given.find(key); it != given.end())
        in.fail(it->second.key.Mark(), std::string("provider.") + key +
                                         " is only used with type: command; remove it, or set type: command");
    return result;
  }

  if (auto it = given.find("hosts"); it != given.end())
    result.hosts = in.texts(it->second, "provider.hosts", "hosts: [10.0.0.5, 10.0.0.6]");
  for (auto [key, field] : {std::pair{"launch", &result.launch}, std::pair{"terminate", &result.terminate}}) {
    auto it = given.find(key);
    std::string path = std::string("provider.") + key;
    if (it == given.end())
      in.fail(section.key.Mark(), "provider.type is command but " + path + " is missing; add " + key +
                                    ": \"ssh {host} ...\" with the placeholders " +
                                    braced_list(command_placeholders()));
    *field = in.text(it->second, path, std::string(key) + ": \"ssh {host} ...\"");
    bool uses_host = false;
    std::string ignored;
    auto known = [&](const std::string& name, std::string&) {
      uses_host |= name == "host";
      const auto& names = command_placeholders();
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    if (auto what = walk_template(*field, known, ignored); !what.empty())
      in.fail(it->second.key.Mark(), path + ": " + what + "; the placeholders are " +
                                       braced_list(command_placeholders()));
    if (uses_host && result.hosts.empty())
      in.fail(it->second.key.Mark(), path + " uses {host} but provider.hosts is empty; list the machines, "
                                            "e.g. hosts: [10.0.0.5, 10.0.0.6]");
  }
  return result;
}

resource_map read_resources(const config_reader& in, const entry& section, const std::string& path) {
  if (!section.value.IsMap())
    in.fail(section.key.Mark(), path + " must be a mapping of resource name to amount, e.g. resources: {CPU: 2}; got " +
                                  shown(section.value));
  resource_map result;
  bool offers_something = false;
  for (auto& [name, e] : in.entries(section.value, path, any_key)) {
    if (name.empty())
      in.fail(e.key.Mark(), path + " has a resource with an empty name; name it, e.g. CPU: 2");
    auto key = path + "." + name;
    double amount = in.number(e, key, name + ": 2");
    if (amount < 0)
      in.fail(e.key.Mark(), key + " must be 0 or more; got " + e.value.Scalar());
    offers_something |= amount > 0;
    result[name] = amount;
  }
  if (!offers_something)
    in.fail(section.key.Mark(), path + " has no positive amount; a node must offer something, e.g. resources: {CPU: 2}");
  return result;
}

node_type_config read_node_type(const config_reader& in, const std::string& name, const entry& section) {
  if (name.empty())
    in.fail(section.key.Mark(), "a node type has an empty name; name it, e.g. cpu:");
  auto path = "node_types." + name;
  if (!section.value.IsMap())
    in.fail(section.key.Mark(), path + " must be a mapping with resources, min_nodes and max_nodes, "
                                       "e.g. " + name + ": {resources: {CPU: 2}, max_nodes: 4}; got " +
                                  shown(section.value));
  node_type_config result;
  result.name = name;
  const entry* resources = nullptr;
  const entry* max_nodes = nullptr;
  auto given = in.entries(section.value, "node type '" + name + "'", node_type_keys);
  for (auto& [key, e] : given) {
    if (key == "resources") {
      result.resources = read_resources(in, e, path + ".resources");
      resources = &e;
    } else if (key == "min_nodes") {
      result.min_nodes = in.whole_number(e, path + ".min_nodes", "min_nodes: 0");
      if (result.min_nodes < 0)
        in.fail(e.key.Mark(), path + ".min_nodes must be 0 or more; got " + e.value.Scalar());
    } else {
      result.max_nodes = in.whole_number(e, path + ".max_nodes", "max_nodes: 4");
      max_nodes = &e;
    }
  }
  if (!resources)
    in.fail(section.key.Mark(), "node type '" + name + "' has no resources; add what one node offers, "
                                                        "e.g. resources: {CPU: 2}");
  if (!max_nodes)
    in.fail(section.key.Mark(), "node type '" + name + "' has no max_nodes; add the most nodes of it at once, "
                                                        "e.g. max_nodes: 4");
  if (result.max_nodes < result.min_nodes)
    in.fail(max_nodes->key.Mark(), path + ".max_nodes (" + std::to_string(result.max_nodes) +
                                     ") is less than min_nodes (" + std::to_string(result.min_nodes) +
                                     "); make it at least " + std::to_string(result.min_nodes));
  return result;
}

} // namespace

const std::vector<std::string>& command_placeholders() {
  static const std::vector<std::string> names = {"host",      "address",   "token",    "num_cpus",
                                                 "resources", "launch_id", "node_type"};
  return names;
}

autoscale_config parse_autoscale_config(const std::string& yaml, const std::string& source) {
  config_reader in(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    in.fail(e.mark, "YAML syntax error: " + e.msg + "; fix the indentation, quoting or ':' there");
  }
  const char* outline = "provider: {type: local} and node_types: {cpu: {resources: {CPU: 2}, max_nodes: 4}}";
  if (!root.IsMap())
    in.fail(root.IsNull() ? YAML::Mark() : root.Mark(),
            "the autoscaler config must be a mapping with at least " + std::string(outline) + "; got " +
              shown(root));

  autoscale_config result;
  bool has_provider = false;
  const entry* node_types = nullptr;
  auto top = in.entries(root, "the autoscaler config", top_keys);
  for (auto& [key, e] : top) {
    if (key == "provider") {
      result.provider = read_provider(in, e);
      has_provider = true;
    } else if (key == "idle_timeout_s") {
      result.idle_timeout_s = in.positive(e, key, "idle_timeout_s: 60");
    } else if (key == "upscaling_speed") {
      result.upscaling_speed = in.positive(e, key, "upscaling_speed: 1.0");
    } else if (key == "launch_timeout_s") {
      result.launch_timeout_s = in.positive(e, key, "launch_timeout_s: 60");
    } else {
      node_types = &e;
    }
  }
  if (!has_provider)
    in.fail(root.Mark(), "missing provider; add provider: {type: local}, or type: command with launch and terminate");
  if (!node_types)
    in.fail(root.Mark(), "missing node_types; add at least one, e.g. node_types: {cpu: {resources: {CPU: 2}, "
                         "max_nodes: 4}}");
  if (!node_types->value.IsMap() || node_types->value.size() == 0)
    in.fail(node_types->key.Mark(), "node_types must be a non-empty mapping of type name to its settings, "
                                    "e.g. node_types: {cpu: {resources: {CPU: 2}, max_nodes: 4}}; got " +
                                      shown(node_types->value));
  for (auto& [name, e] : in.entries(node_types->value, "node_types", any_key))
    result.node_types.push_back(read_node_type(in, name, e));
  return result;
}

autoscale_config load_autoscale_config(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw error(errc::invalid_argument, file.string() + ": the autoscaler config is not a readable file" +
                                          (ec ? " (" + ec.message() + ")" : std::string()) + "; check the path");
  std::ifstream stream(file, std::ios::binary);
  if (!stream)
    throw error(errc::invalid_argument, file.string() + ": cannot open the autoscaler config (" +
                                          std::strerror(errno) + "); check its permissions");
  return parse_autoscale_config(std::string(std::istreambuf_iterator<char>(stream), {}), file.string());
}

std::string expand_command(const std::string& templ, const std::map<std::string, std::string>& values,
                           const std::string& source) {
  std::string out;
  auto value = [&](const std::string& name, std::string& text) {
    auto it = values.find(name);
    if (it == values.end())
      return false;
    text += it->second;
    return true;
  };
  if (auto what = walk_template(templ, value, out); !what.empty()) {
    std::vector<std::string> known;
    for (const auto& [name, ignored] : values)
      known.push_back(name);
    throw error(errc::invalid_argument, source + ": command template \"" + templ + "\": " + what +
                                          "; the placeholders known here are " + braced_list(known));
  }
  return out;
}

} // namespace actors::runtime
