// What the API throws and says: task failures, error codes and their names, type
// mismatches, use without a runtime, and malformed init flags.

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int err_boom(int) {
  throw std::runtime_error("boom");
}

int err_throws_int(int) {
  throw 42;
}

int err_ok(int x) {
  return x + 1;
}

ACTORS_REMOTE(err_boom, err_throws_int, err_ok);

/// The node every runtime test starts: two CPUs, defaults otherwise.
actors::init_options two_cpus() {
  actors::init_options o;
  o.num_cpus = 2;
  return o;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// argv for actors::init(argc, argv) built from strings.
class args {
 public:
  args(std::initializer_list<std::string> items) : strings_(items) {
    for (auto& s : strings_)
      ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  int argc() const {
    return static_cast<int>(strings_.size());
  }
  char** argv() {
    return ptrs_.data();
  }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> ptrs_;
};

/// Runs init(argc, argv) and returns the actors::error it throws; fails the test
/// (and shuts the runtime down) if it does not throw one.
actors::error init_error(args a) {
  try {
    actors::init(a.argc(), a.argv());
  } catch (const actors::error& e) {
    return e;
  }
  actors::shutdown();
  ADD_FAILURE() << "actors::init did not throw";
  return actors::error(actors::errc::none, "");
}

class Errors : public ::testing::Test {
 protected:
  void SetUp() override {
    actors::init(two_cpus());
  }
  void TearDown() override {
    actors::shutdown();
  }
};

// -- task failures --------------------------------------------------------------------------

TEST_F(Errors, ThrowingTaskSurfacesAsTaskErrorWithFunctionNodeAndMessage) {
  auto ref = actors::task(err_boom).remote(1);
  try {
    (void)actors::get(ref);
    FAIL() << "get of a failed task did not throw";
  } catch (const actors::task_error& e) {
    auto node = actors::current_node_id().to_string();
    EXPECT_EQ(e.code(), actors::errc::task_failed);
    EXPECT_EQ(e.function(), "err_boom");
    EXPECT_EQ(e.node(), node);
    EXPECT_EQ(e.original_message(), "boom");
    std::string what = e.what();
    EXPECT_TRUE(contains(what, "err_boom")) << what;
    EXPECT_TRUE(contains(what, node)) << what;
    EXPECT_TRUE(contains(what, "boom")) << what;
  }
}

TEST_F(Errors, TaskErrorIsCaughtAsActorsError) {
  auto ref = actors::task(err_boom).remote(2);
  EXPECT_THROW((void)actors::get(ref), actors::error);
  // Every get of the failed object throws again.
  EXPECT_THROW((void)actors::get(ref), actors::task_error);
}

TEST_F(Errors, TaskLabelReplacesTheFunctionNameInTaskError) {
  auto ref = actors::task(err_boom).name("label").remote(1);
  try {
    (void)actors::get(ref);
    FAIL() << "get of a failed task did not throw";
  } catch (const actors::task_error& e) {
    EXPECT_EQ(e.function(), "label");
    EXPECT_EQ(e.original_message(), "boom");
    std::string what = e.what();
    EXPECT_TRUE(contains(what, "'label'")) << what;
    EXPECT_FALSE(contains(what, "err_boom")) << what;
  }
}

TEST_F(Errors, NonStandardExceptionStillFailsTheTask) {
  auto ref = actors::task(err_throws_int).remote(1);
  try {
    (void)actors::get(ref);
    FAIL() << "get of a task that threw an int did not throw";
  } catch (const actors::task_error& e) {
    EXPECT_EQ(e.function(), "err_throws_int");
    EXPECT_FALSE(e.original_message().empty());
  }
}

TEST(ErrorTypes, TaskErrorConstructorComposesWhat) {
  actors::task_error e("fn", "00000000000000ab", "went wrong");
  EXPECT_EQ(e.code(), actors::errc::task_failed);
  EXPECT_EQ(e.function(), "fn");
  EXPECT_EQ(e.node(), "00000000000000ab");
  EXPECT_EQ(e.original_message(), "went wrong");
  std::string what = e.what();
  EXPECT_TRUE(contains(what, "fn")) << what;
  EXPECT_TRUE(contains(what, "00000000000000ab")) << what;
  EXPECT_TRUE(contains(what, "went wrong")) << what;
}

// -- codes -------------------------------------------------------------------------------------

static_assert(static_cast<int>(actors::errc::none) == 0);
static_assert(static_cast<int>(actors::errc::task_failed) == 1);
static_assert(static_cast<int>(actors::errc::actor_died) == 2);
static_assert(static_cast<int>(actors::errc::object_lost) == 3);
static_assert(static_cast<int>(actors::errc::timeout) == 4);
static_assert(static_cast<int>(actors::errc::not_registered) == 5);
static_assert(static_cast<int>(actors::errc::type_mismatch) == 6);
static_assert(static_cast<int>(actors::errc::not_initialized) == 7);
static_assert(static_cast<int>(actors::errc::invalid_argument) == 8);
static_assert(static_cast<int>(actors::errc::cancelled) == 9);
static_assert(static_cast<int>(actors::errc::object_store_full) == 10);
static_assert(static_cast<int>(actors::errc::serialization_failed) == 11);
static_assert(sizeof(actors::errc) == 1, "errc crosses the wire as one byte");

const std::vector<actors::errc> all_codes{
  actors::errc::none,           actors::errc::task_failed,      actors::errc::actor_died,
  actors::errc::object_lost,    actors::errc::timeout,          actors::errc::not_registered,
  actors::errc::type_mismatch,  actors::errc::not_initialized,  actors::errc::invalid_argument,
  actors::errc::cancelled,      actors::errc::object_store_full, actors::errc::serialization_failed,
};

TEST(ErrorCodes, ValuesArePinned) {
  EXPECT_EQ(static_cast<int>(actors::errc::none), 0);
  EXPECT_EQ(static_cast<int>(actors::errc::task_failed), 1);
  EXPECT_EQ(static_cast<int>(actors::errc::actor_died), 2);
  EXPECT_EQ(static_cast<int>(actors::errc::object_lost), 3);
  EXPECT_EQ(static_cast<int>(actors::errc::timeout), 4);
  EXPECT_EQ(static_cast<int>(actors::errc::not_registered), 5);
  EXPECT_EQ(static_cast<int>(actors::errc::type_mismatch), 6);
  EXPECT_EQ(static_cast<int>(actors::errc::not_initialized), 7);
  EXPECT_EQ(static_cast<int>(actors::errc::invalid_argument), 8);
  EXPECT_EQ(static_cast<int>(actors::errc::cancelled), 9);
  EXPECT_EQ(static_cast<int>(actors::errc::object_store_full), 10);
  EXPECT_EQ(static_cast<int>(actors::errc::serialization_failed), 11);
}

TEST(ErrorCodes, EveryCodeHasADistinctKnownName) {
  std::set<std::string> names;
  for (auto code : all_codes) {
    ASSERT_NE(actors::to_string(code), nullptr);
    std::string name = actors::to_string(code);
    EXPECT_FALSE(name.empty()) << static_cast<int>(code);
    EXPECT_NE(name, "unknown") << static_cast<int>(code);
    for (char c : name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name << " is not lowercase";
    names.insert(name);
  }
  EXPECT_EQ(names.size(), all_codes.size());
}

TEST(ErrorCodes, NamesAreStable) {
  EXPECT_STREQ(actors::to_string(actors::errc::none), "none");
  EXPECT_STREQ(actors::to_string(actors::errc::task_failed), "task_failed");
  EXPECT_STREQ(actors::to_string(actors::errc::actor_died), "actor_died");
  EXPECT_STREQ(actors::to_string(actors::errc::object_lost), "object_lost");
  EXPECT_STREQ(actors::to_string(actors::errc::timeout), "timeout");
  EXPECT_STREQ(actors::to_string(actors::errc::not_registered), "not_registered");
  EXPECT_STREQ(actors::to_string(actors::errc::type_mismatch), "type_mismatch");
  EXPECT_STREQ(actors::to_string(actors::errc::not_initialized), "not_initialized");
  EXPECT_STREQ(actors::to_string(actors::errc::invalid_argument), "invalid_argument");
  EXPECT_STREQ(actors::to_string(actors::errc::cancelled), "cancelled");
  EXPECT_STREQ(actors::to_string(actors::errc::object_store_full), "object_store_full");
  EXPECT_STREQ(actors::to_string(actors::errc::serialization_failed), "serialization_failed");
}

TEST(ErrorCodes, OutOfRangeCodeIsUnknown) {
  EXPECT_STREQ(actors::to_string(static_cast<actors::errc>(200)), "unknown");
}

TEST(ErrorTypes, RaiseThrowsTheExceptionMatchingEachCode) {
  using actors::detail::failure;
  auto code_of = [](const failure& f) {
    try {
      actors::detail::raise(f);
    } catch (const actors::error& e) {
      EXPECT_NE(std::string(e.what()).find(f.message), std::string::npos) << e.what();
      return e.code();
    }
    return actors::errc::none;
  };
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::task_failed, "m", "f", "n"}), actors::task_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::actor_died, "m", {}, {}}), actors::actor_died_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::object_lost, "m", {}, {}}), actors::object_lost_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::timeout, "m", {}, {}}), actors::timeout_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::not_registered, "m", {}, {}}),
               actors::not_registered_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::cancelled, "m", {}, {}}), actors::task_cancelled_error);
  EXPECT_THROW(actors::detail::raise(failure{actors::errc::object_store_full, "m", {}, {}}),
               actors::object_store_full_error);
  for (auto code : all_codes) {
    if (code == actors::errc::none)
      continue;
    EXPECT_EQ(code_of(failure{code, "message-" + std::string(actors::to_string(code)), "f", "n"}), code)
      << actors::to_string(code);
  }
}

// -- type mismatch through the detail seam ------------------------------------------------------

TEST_F(Errors, ReadingAnObjectAsAnotherTypeThrowsTypeMismatch) {
  auto ref = actors::put(5);
  try {
    (void)actors::detail::get_value(ref.cell(), actors::detail::ops_of<std::string>(), actors::detail::forever);
    FAIL() << "reading an int as a string did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch);
    std::string what = e.what();
    EXPECT_TRUE(contains(what, "int")) << what;
    EXPECT_TRUE(contains(what, "string")) << what;
  }
  EXPECT_EQ(actors::get(ref), 5);
}

TEST_F(Errors, GetOfAnEmptyRefThrowsInvalidArgument) {
  actors::object_ref<int> empty;
  try {
    (void)actors::get(empty);
    FAIL() << "get of an empty object_ref did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  }
}

// -- use without a runtime ------------------------------------------------------------------------

void expect_not_initialized(const std::function<void()>& call, const char* what_call) {
  try {
    call();
    ADD_FAILURE() << what_call << " before init did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::not_initialized) << what_call << ": " << e.what();
    EXPECT_TRUE(contains(e.what(), "actors::init")) << what_call << ": " << e.what();
  }
}

TEST(WithoutRuntime, TaskBeforeInitThrowsNotInitialized) {
  ASSERT_FALSE(actors::is_initialized());
  expect_not_initialized([] { (void)actors::task(err_ok).remote(1); }, "task");
}

TEST(WithoutRuntime, PutBeforeInitThrowsNotInitialized) {
  ASSERT_FALSE(actors::is_initialized());
  expect_not_initialized([] { (void)actors::put(1); }, "put");
}

TEST(WithoutRuntime, CurrentNodeIdBeforeInitThrowsNotInitialized) {
  ASSERT_FALSE(actors::is_initialized());
  expect_not_initialized([] { (void)actors::current_node_id(); }, "current_node_id");
}

TEST(WithoutRuntime, GetOfARefKeptPastShutdownThrows) {
  // The only references that name an object with no runtime running are those kept
  // from one that was shut down; `get` must not return a value from it.
  actors::init(two_cpus());
  auto ready = actors::put(7);
  auto computed = actors::task(err_ok).remote(1);
  ASSERT_EQ(actors::get(computed), 2);
  actors::shutdown();
  ASSERT_FALSE(actors::is_initialized());

  for (auto* ref : {&ready, &computed}) {
    try {
      int v = actors::get(*ref);
      ADD_FAILURE() << "get after shutdown returned " << v << " instead of throwing";
    } catch (const actors::error& e) {
      EXPECT_TRUE(e.code() == actors::errc::not_initialized || e.code() == actors::errc::object_lost)
        << actors::to_string(e.code()) << ": " << e.what();
    }
  }
}

// -- init ------------------------------------------------------------------------------------------

TEST(Init, InitTwiceThrows) {
  actors::init(two_cpus());
  try {
    actors::init(two_cpus());
    ADD_FAILURE() << "second init did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    EXPECT_TRUE(contains(e.what(), "shutdown")) << e.what();
  }
  // The first runtime still works.
  EXPECT_TRUE(actors::is_initialized());
  EXPECT_EQ(actors::get(actors::task(err_ok).remote(1)), 2);
  actors::shutdown();
}

TEST(Init, InitShutdownInitAgainWorks) {
  EXPECT_FALSE(actors::is_initialized());
  actors::init(two_cpus());
  EXPECT_TRUE(actors::is_initialized());
  auto first_node = actors::current_node_id();
  EXPECT_EQ(actors::get(actors::task(err_ok).remote(1)), 2);
  actors::shutdown();
  EXPECT_FALSE(actors::is_initialized());

  actors::init(two_cpus());
  EXPECT_TRUE(actors::is_initialized());
  EXPECT_EQ(actors::get(actors::task(err_ok).remote(41)), 42);
  EXPECT_EQ(actors::get(actors::put(std::string("again"))), "again");
  EXPECT_NE(actors::current_node_id(), first_node);
  actors::shutdown();
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, UnknownFlagThrowsNamingItAndListingTheValidOnes) {
  auto e = init_error({"prog", "--actors-bogus=1"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  std::string what = e.what();
  EXPECT_TRUE(contains(what, "--actors-bogus")) << what;
  for (const char* valid : {"--actors-num-cpus", "--actors-resources", "--actors-object-store-bytes",
                            "--actors-spill-dir", "--actors-address"})
    EXPECT_TRUE(contains(what, valid)) << valid << " missing from: " << what;
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, NonNumericCpuCountThrowsNamingTheFlag) {
  auto e = init_error({"prog", "--actors-num-cpus=abc"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  std::string what = e.what();
  EXPECT_TRUE(contains(what, "--actors-num-cpus")) << what;
  EXPECT_TRUE(contains(what, "abc")) << what;
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, HeartbeatTimeoutShorterThanTwoBeatsIsRefused) {
  auto e = init_error({"prog", "--actors-heartbeat-timeout=100"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "--actors-heartbeat-timeout")) << e.what();
  EXPECT_TRUE(contains(e.what(), "400")) << e.what();
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, NumbersAreWholeValuesWithNothingAfterThem) {
  for (std::string flag : {"--actors-metrics-port=80x", "--actors-heartbeat-timeout=1000.5",
                           "--actors-local-nodes=2nodes", "--actors-handshake-timeout=", "--actors-num-cpus=2x"}) {
    auto e = init_error({"prog", flag});
    EXPECT_EQ(e.code(), actors::errc::invalid_argument) << flag;
    EXPECT_TRUE(contains(e.what(), flag.substr(0, flag.find('=')))) << e.what();
    EXPECT_FALSE(actors::is_initialized());
  }
}

TEST(Init, BadByteSizeUnitThrowsNamingTheFlag) {
  auto e = init_error({"prog", "--actors-object-store-bytes=2X"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "--actors-object-store-bytes")) << e.what();
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, ByteSizeWithoutANumberThrowsQuotingTheValue) {
  auto e = init_error({"prog", "--actors-task-memory-limit=lots"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "--actors-task-memory-limit")) << e.what();
  EXPECT_TRUE(contains(e.what(), "'lots'")) << e.what();
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, FlagWithoutValueThrowsNamingIt) {
  auto e = init_error({"prog", "--actors-num-cpus"});
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "--actors-num-cpus")) << e.what();
  EXPECT_FALSE(actors::is_initialized());
}

TEST(Init, ByteSizeWithUnitParses) {
  for (const char* size : {"2G", "512M", "64K", "1048576"}) {
    args a{"prog", std::string("--actors-object-store-bytes=") + size, "--actors-num-cpus=2"};
    ASSERT_NO_THROW(actors::init(a.argc(), a.argv())) << size;
    EXPECT_TRUE(actors::is_initialized()) << size;
    EXPECT_EQ(actors::get(actors::task(err_ok).remote(2)), 3) << size;
    actors::shutdown();
  }
}

TEST(Init, OtherArgumentsAreLeftAlone) {
  args a{"prog", "--verbose", "input.txt", "--actors-num-cpus", "2", "-x"};
  ASSERT_NO_THROW(actors::init(a.argc(), a.argv()));
  EXPECT_EQ(actors::get(actors::task(err_ok).remote(0)), 1);
  actors::shutdown();
}

TEST(Init, AFlagWinsOverABadEnvironmentVariable) {
  ASSERT_EQ(setenv("ACTORS_NUM_CPUS", "abc", 1), 0);
  bool started = false;
  try {
    args a{"prog", "--actors-num-cpus", "2"};
    actors::init(a.argc(), a.argv());
    started = true;
    EXPECT_EQ(actors::get(actors::task(err_ok).remote(0)), 1);
    actors::shutdown();
  } catch (const actors::error& e) {
    ADD_FAILURE() << "the variable was read although its flag was given: " << e.what();
  }
  unsetenv("ACTORS_NUM_CPUS");
  EXPECT_TRUE(started);
}

TEST(Init, BadEnvironmentVariableThrowsNamingIt) {
  ASSERT_EQ(setenv("ACTORS_NUM_CPUS", "abc", 1), 0);
  actors::error e(actors::errc::none, "");
  try {
    args a{"prog"};
    actors::init(a.argc(), a.argv());
    actors::shutdown();
    ADD_FAILURE() << "init with ACTORS_NUM_CPUS=abc did not throw";
  } catch (const actors::error& caught) {
    e = caught;
  }
  unsetenv("ACTORS_NUM_CPUS");
  EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "ACTORS_NUM_CPUS")) << e.what();
}

} // namespace
