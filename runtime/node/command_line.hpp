#pragma once

// The command lines of actorsd and actors, on CLI11: the node settings they share
// with init()'s --actors-* flags come from one table (options.hpp) and are
// checked by the same code; mistakes end the program with a message naming the
// flag as the user typed it. Included by the two programs only: CLI11 is a large
// header.

#include "runtime/node/options.hpp"

#include "actors/errors.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace actors::runtime {

/// Adds the node settings actorsd takes (node_flags() marked `daemon`) to `app`
/// as --NAME options that set `opts`, each value checked as init() checks
/// --actors-NAME.
inline void add_node_options(CLI::App& app, init_options& opts) {
  for (const auto& flag : node_flags()) {
    if (!flag.daemon)
      continue;
    std::string name = flag.name;
    app.add_option_function<std::string>(
         "--" + name, [&opts, name](const std::string& value) { apply_node_flag(opts, name, value, "--" + name); },
         flag.help)
      ->type_name(flag.value_name)
      ->group("Node settings");
  }
}

/// Checks that a value is a whole number from `lo` to `hi`, all of it ("63x" is
/// not 63).
inline CLI::Validator whole_number(long long lo, long long hi) {
  return CLI::Validator(
    [lo, hi](std::string& text) -> std::string {
      if (!whole_number_in(text, lo, hi))
        return "expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not '" + text
               + "'";
      return {};
    },
    "");
}

/// The subcommand the user reached (`actors list`), for "see ... --help".
inline std::string command_path(CLI::App& app) {
  std::string path = app.get_name();
  for (auto* at = &app;;) {
    auto subs = at->get_subcommands();
    if (subs.empty())
      return path;
    at = subs.front();
    path += " " + at->get_name();
  }
}

/// Parses the command line with `app`. --help (of the program or of a command)
/// and --version print and exit 0; a mistake prints what is wrong, with the
/// help to read, and exits 2.
inline void parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    auto where = command_path(app);
    std::cerr << where << ": " << e.what() << "; see " << where << " --help\n";
    std::exit(2);
  } catch (const actors::error& e) {
    std::cerr << app.get_name() << ": " << e.what() << "; see " << command_path(app) << " --help\n";
    std::exit(2);
  }
}

} // namespace actors::runtime
