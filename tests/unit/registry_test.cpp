// ACTORS_REMOTE and the registry: how names are split, what an entry records, and
// the errors for functions and methods that were never listed.

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

int reg_square(int x) {
  return x * x;
}

int reg_not_listed(int x) {
  return x + 1;
}

class RegCounter {
 public:
  explicit RegCounter(int start) : n_(start) {}
  int add(int d) {
    return n_ += d;
  }
  int value() const {
    return n_;
  }
  void reset() {
    n_ = 0;
  }

 private:
  int n_;
};

RegCounter make_reg_counter(int start) {
  return RegCounter(start);
}

std::unique_ptr<RegCounter> make_reg_counter_ptr(int start) {
  return std::make_unique<RegCounter>(start);
}

// Spread over lines and with odd spacing, as users write it.
ACTORS_REMOTE(reg_square,
              make_reg_counter,   make_reg_counter_ptr,
              &RegCounter::add, &RegCounter::value);

/// The node every runtime test starts: two CPUs, defaults otherwise.
actors::init_options two_cpus() {
  actors::init_options o;
  o.num_cpus = 2;
  return o;
}

class RegistryWithRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    actors::init(two_cpus());
  }
  void TearDown() override {
    actors::shutdown();
  }
};

// -- split_names ------------------------------------------------------------------------

TEST(Registry, SplitNamesYieldsCleanNames) {
  auto names = actors::detail::split_names("square, make_counter, &Counter::add,  &Counter::value");
  EXPECT_EQ(names, (std::vector<std::string>{"square", "make_counter", "Counter::add", "Counter::value"}));
}

TEST(Registry, SplitNamesHandlesOneNameAndLineBreaks) {
  EXPECT_EQ(actors::detail::split_names("solo"), std::vector<std::string>{"solo"});
  EXPECT_EQ(actors::detail::split_names("a,\n\t  &ns::B::c ,\nd"),
            (std::vector<std::string>{"a", "ns::B::c", "d"}));
}

TEST(Registry, SplitNamesKeepsCommasInsideTemplateArgumentsTogether) {
  auto names = actors::detail::split_names("first, pick<int, long>, &Holder<A, B>::get");
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], "first");
  EXPECT_EQ(names[1], "pick<int,long>");
  EXPECT_EQ(names[2], "Holder<A,B>::get");
}

// -- entries ------------------------------------------------------------------------------

TEST(Registry, RegisteredFunctionIsFoundByItsName) {
  const auto* entry = actors::detail::function_named("reg_square");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->name, "reg_square");
  EXPECT_EQ(entry->fn, reinterpret_cast<const void*>(&reg_square));
  // Lookup by pointer gives the same entry.
  const auto& by_ptr = actors::detail::function_of(reinterpret_cast<const void*>(&reg_square),
                                                   typeid(&reg_square).name());
  EXPECT_EQ(&by_ptr, entry);
}

TEST(Registry, UnknownNamesAreNotFound) {
  EXPECT_EQ(actors::detail::function_named("reg_not_listed"), nullptr);
  EXPECT_EQ(actors::detail::function_named("&reg_square"), nullptr);
  EXPECT_EQ(actors::detail::method_named("RegCounter::reset"), nullptr);
  EXPECT_EQ(actors::detail::method_named("&RegCounter::add"), nullptr);
}

TEST(Registry, RegisteredMethodsAreFoundByCleanNameWithTheirClass) {
  const auto* add = actors::detail::method_named("RegCounter::add");
  const auto* value = actors::detail::method_named("RegCounter::value");
  ASSERT_NE(add, nullptr);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(add->name, "RegCounter::add");
  EXPECT_EQ(value->name, "RegCounter::value");
  EXPECT_STREQ(add->actor_class, typeid(RegCounter).name());
  EXPECT_STREQ(value->actor_class, typeid(RegCounter).name());
  // Lookup by member pointer gives the same entries.
  EXPECT_EQ(&actors::detail::method_of(actors::detail::method_key(&RegCounter::add),
                                       typeid(RegCounter).name()),
            add);
  EXPECT_EQ(&actors::detail::method_of(actors::detail::method_key(&RegCounter::value),
                                       typeid(RegCounter).name()),
            value);
}

TEST(Registry, EntryFoundByNameRunsTheFunctionOnWireArguments) {
  // The path of a call that arrives by name: decode the arguments, then invoke.
  const auto* entry = actors::detail::function_named("reg_square");
  ASSERT_NE(entry, nullptr);
  auto wire = actors::detail::make_args<int>(7)->encode();
  auto args = entry->decode_args(wire);
  auto result = entry->invoke(entry->fn, *args);
  ASSERT_TRUE(result.value);
  EXPECT_EQ(result.ops, actors::detail::ops_of<int>());
  EXPECT_EQ(*static_cast<const int*>(result.value.get()), 49);
}

TEST(Registry, FactoryIsRecognisedAndPlainFunctionIsNot) {
  const auto* factory = actors::detail::function_named("make_reg_counter");
  const auto* factory_ptr = actors::detail::function_named("make_reg_counter_ptr");
  const auto* plain = actors::detail::function_named("reg_square");
  ASSERT_NE(factory, nullptr);
  ASSERT_NE(factory_ptr, nullptr);
  ASSERT_NE(plain, nullptr);

  EXPECT_NE(factory->construct, nullptr);
  EXPECT_NE(factory_ptr->construct, nullptr);
  ASSERT_NE(factory->actor_class, nullptr);
  ASSERT_NE(factory_ptr->actor_class, nullptr);
  EXPECT_STREQ(factory->actor_class, typeid(RegCounter).name());
  EXPECT_STREQ(factory_ptr->actor_class, typeid(RegCounter).name());

  EXPECT_EQ(plain->construct, nullptr);
  EXPECT_EQ(plain->actor_class, nullptr);
}

TEST(Registry, FactoryEntryConstructsAnInstance) {
  for (const char* name : {"make_reg_counter", "make_reg_counter_ptr"}) {
    const auto* entry = actors::detail::function_named(name);
    ASSERT_NE(entry, nullptr) << name;
    auto args = actors::detail::make_args<int>(3);
    auto instance = entry->construct(entry->fn, *args);
    ASSERT_TRUE(instance) << name;
    EXPECT_EQ(static_cast<RegCounter*>(instance.get())->value(), 3) << name;
  }
}

// -- errors for what is not registered ---------------------------------------------------

TEST(Registry, TaskOfUnregisteredFunctionThrowsNotRegisteredMentioningActorsRemote) {
  try {
    (void)actors::task(reg_not_listed);
    FAIL() << "task of an unregistered function did not throw";
  } catch (const actors::not_registered_error& e) {
    EXPECT_EQ(e.code(), actors::errc::not_registered);
    EXPECT_NE(std::string(e.what()).find("ACTORS_REMOTE"), std::string::npos) << e.what();
  }
}

TEST_F(RegistryWithRuntime, RemoteCallOfUnregisteredFunctionThrowsBeforeRunning) {
  EXPECT_THROW((void)actors::task(reg_not_listed).remote(1), actors::not_registered_error);
}

TEST_F(RegistryWithRuntime, UnregisteredMethodOfAnActorThrowsNamingTheClass) {
  auto counter = actors::actor(make_reg_counter).remote(1);
  try {
    (void)counter.task(&RegCounter::reset);
    FAIL() << "task of an unregistered method did not throw";
  } catch (const actors::not_registered_error& e) {
    EXPECT_EQ(e.code(), actors::errc::not_registered);
    std::string what = e.what();
    EXPECT_NE(what.find("RegCounter"), std::string::npos) << what;
    EXPECT_NE(what.find("ACTORS_REMOTE"), std::string::npos) << what;
  }
  // The actor itself is unharmed.
  EXPECT_EQ(actors::get(counter.task(&RegCounter::value).remote()), 1);
}

// -- registered things run ------------------------------------------------------------------

TEST_F(RegistryWithRuntime, RegisteredFunctionRunsAsATask) {
  EXPECT_EQ(actors::get(actors::task(reg_square).remote(9)), 81);
}

TEST_F(RegistryWithRuntime, ConstAndNonConstMethodsBothRegisterAndCanBeCalled) {
  auto counter = actors::actor(make_reg_counter).remote(10);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::add).remote(5)), 15);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::value).remote()), 15);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::add).remote(-2)), 13);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::value).remote()), 13);
}

TEST_F(RegistryWithRuntime, UniquePtrFactoryBuildsAWorkingActor) {
  auto counter = actors::actor(make_reg_counter_ptr).remote(4);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::add).remote(1)), 5);
  EXPECT_EQ(actors::get(counter.task(&RegCounter::value).remote()), 5);
}

} // namespace
