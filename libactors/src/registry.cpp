#include "actors/registry.hpp"

#include "actors/errors.hpp"

#include <cctype>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

namespace actors::detail {

args_holder::~args_holder() = default;

namespace {

/// Every registered function and method of the process. Written at static
/// initialisation (and when a library is loaded), read on every submission.
struct registry {
  std::shared_mutex mu;
  std::unordered_map<const void*, std::unique_ptr<function_entry>> functions;
  std::unordered_map<std::string, const function_entry*> functions_by_name;
  std::unordered_map<std::string, std::unique_ptr<method_entry>> methods;
  std::unordered_map<std::string, const method_entry*> methods_by_name;
  /// Classes (mangled names) with a coroutine method.
  std::unordered_set<std::string> async_classes;

  static registry& get() {
    static registry r;
    return r;
  }
};

} // namespace

void register_function(function_entry entry) {
  auto& r = registry::get();
  std::unique_lock<std::shared_mutex> guard{r.mu};
  auto fn = entry.fn;
  auto name = entry.name;
  auto [i, added] = r.functions.emplace(fn, std::make_unique<function_entry>(std::move(entry)));
  if (added)
    r.functions_by_name.emplace(name, i->second.get());
}

void register_method(method_entry entry, const std::string& key) {
  auto& r = registry::get();
  std::unique_lock<std::shared_mutex> guard{r.mu};
  auto name = entry.name;
  if (entry.start)
    r.async_classes.insert(entry.actor_class);
  auto [i, added] = r.methods.emplace(key, std::make_unique<method_entry>(std::move(entry)));
  if (added)
    r.methods_by_name.emplace(name, i->second.get());
}

bool is_async_class(const char* class_name) {
  if (!class_name)
    return false;
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  return r.async_classes.count(class_name) > 0;
}

const function_entry& function_of(const void* fn, const char* signature) {
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  auto i = r.functions.find(fn);
  if (i == r.functions.end())
    throw not_registered_error("a function of type " + demangle(signature)
                               + " is not registered: list it in an ACTORS_REMOTE(...) line in "
                                 "the program (or the library every node loads)");
  return *i->second;
}

const function_entry* function_at(const void* fn) {
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  auto i = r.functions.find(fn);
  return i == r.functions.end() ? nullptr : i->second.get();
}

const method_entry& method_of(const std::string& key, const char* class_name) {
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  auto i = r.methods.find(key);
  if (i == r.methods.end())
    throw not_registered_error("a method of " + demangle(class_name)
                               + " is not registered: add &" + demangle(class_name)
                               + "::<method> to an ACTORS_REMOTE(...) line");
  return *i->second;
}

const function_entry* function_named(const std::string& name) {
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  auto i = r.functions_by_name.find(name);
  return i == r.functions_by_name.end() ? nullptr : i->second;
}

const method_entry* method_named(const std::string& name) {
  auto& r = registry::get();
  std::shared_lock<std::shared_mutex> guard{r.mu};
  auto i = r.methods_by_name.find(name);
  return i == r.methods_by_name.end() ? nullptr : i->second;
}

std::vector<std::string> split_names(const char* list) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  auto flush = [&] {
    std::string s;
    for (char c : cur)
      if (!std::isspace(static_cast<unsigned char>(c)) && c != '&')
        s += c;
    out.push_back(s);
    cur.clear();
  };
  for (const char* p = list; *p; ++p) {
    char c = *p;
    if (c == '(' || c == '<')
      ++depth;
    else if (c == ')' || c == '>')
      --depth;
    if (c == ',' && depth == 0)
      flush();
    else
      cur += c;
  }
  flush();
  return out;
}

} // namespace actors::detail
