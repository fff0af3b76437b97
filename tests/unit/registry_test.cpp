// ACTORS_REMOTE and the registry: how names are split, what an entry records, the
// errors for functions and methods that were never listed, and the wire form of
// a call's arguments when the caller keeps a large one back.

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
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

double reg_sum_scaled(std::vector<double> v, int k) {
  return std::accumulate(v.begin(), v.end(), 0.0) * k;
}

/// Where the vector the call got keeps its elements.
std::uint64_t reg_data_address(std::vector<double> v) {
  return reinterpret_cast<std::uintptr_t>(v.data());
}

// Spread over lines and with odd spacing, as users write it.
ACTORS_REMOTE(reg_square,
              make_reg_counter,   make_reg_counter_ptr,
              &RegCounter::add, &RegCounter::value, reg_sum_scaled, reg_data_address);

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

// -- large arguments kept back by the caller ------------------------------------------------

/// A vector of `n` doubles 0, 1, 2, ...
std::vector<double> counting(std::size_t n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}

constexpr std::size_t one_mib = std::size_t{1} << 20;
const actors::object_id kept_id{0xa, (std::uint64_t{1} << 63) | 7};

/// Keeps each value encode_keeping_back gives it, under kept_id.
struct keeper {
  std::vector<actors::detail::value_box> kept;
  std::vector<std::uint64_t> sizes;
  actors::detail::keep_argument fn() {
    return [this](actors::detail::value_box box, std::uint64_t size) {
      kept.push_back(std::move(box));
      sizes.push_back(size);
      return kept_id;
    };
  }
};

/// What `args`, decoded on the node running the call, must fetch first.
std::vector<actors::detail::withheld_argument> to_fetch(actors::detail::args_holder& args) {
  std::vector<actors::detail::withheld_argument> out;
  args.withheld(out);
  return out;
}

TEST(Registry, ALargeArgumentIsKeptBackAsItIsAndTheWireNamesItInstead) {
  auto v = counting(one_mib / 4); // 2 MiB
  const double expect = std::accumulate(v.begin(), v.end(), 0.0) * 3;
  const std::size_t encoded = actors::detail::encoded_size(v);
  const double* elements = v.data();
  auto args = actors::detail::make_args<std::vector<double>, int>(std::move(v), 3);
  keeper k;
  auto wire = args->encode_keeping_back(one_mib, k.fn());
  ASSERT_EQ(k.kept.size(), 1u) << "only the vector is that large";
  EXPECT_EQ(k.sizes[0], encoded);
  EXPECT_STREQ(k.kept[0].ops->name, typeid(std::vector<double>).name());
  EXPECT_EQ(static_cast<const std::vector<double>*>(k.kept[0].value.get())->data(), elements)
    << "the value was copied to be kept back, not moved";
  EXPECT_LT(wire.size(), 64u) << "the wire form carries the value's bytes";

  // The node running the call decodes the arguments, then fetches the value.
  const auto* entry = actors::detail::function_named("reg_sum_scaled");
  ASSERT_NE(entry, nullptr);
  auto on_node = entry->decode_args(wire);
  auto withheld = to_fetch(*on_node);
  ASSERT_EQ(withheld.size(), 1u);
  EXPECT_EQ(withheld[0].id, kept_id);
  EXPECT_EQ(withheld[0].size, encoded);
  EXPECT_STREQ(withheld[0].ops->name, typeid(std::vector<double>).name());
  try {
    (void)entry->invoke(entry->fn, *on_node);
    ADD_FAILURE() << "a call ran on an argument it was never given";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("never fetched"), std::string::npos) << e.what();
  }
  auto bytes = withheld[0].ops->encode(k.kept[0].value.get());
  withheld[0].decode(bytes.data(), bytes.size());
  auto result = entry->invoke(entry->fn, *on_node);
  EXPECT_EQ(*static_cast<const double*>(result.value.get()), expect);
  auto again = to_fetch(*on_node);
  EXPECT_TRUE(again.empty()) << "an argument that has its value is fetched again";

  // The caller still reads its value (a run here, after its node died), and
  // writes it whole when asked for a plain encoding (to copy a lineage).
  auto here = entry->invoke(entry->fn, *args);
  EXPECT_EQ(*static_cast<const double*>(here.value.get()), expect);
  auto copy = entry->decode_args(args->encode());
  auto none = to_fetch(*copy);
  EXPECT_TRUE(none.empty()) << "a plain encoding names a value kept back for an earlier sending";
  auto copied = entry->invoke(entry->fn, *copy);
  EXPECT_EQ(*static_cast<const double*>(copied.value.get()), expect);
}

TEST(Registry, ACallGoingOutAgainKeepsTheSameValueBackUnderANewId) {
  auto args = actors::detail::make_args<std::vector<double>, int>(counting(one_mib / 4), 1);
  keeper first;
  (void)args->encode_keeping_back(one_mib, first.fn());
  const actors::object_id second_id{0xa, (std::uint64_t{1} << 63) | 8};
  std::vector<actors::detail::value_box> second;
  auto wire = args->encode_keeping_back(one_mib, [&](actors::detail::value_box box, std::uint64_t) {
    second.push_back(std::move(box));
    return second_id;
  });
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].value.get(), first.kept[0].value.get()) << "the retry kept a copy back";
  auto on_node = actors::detail::function_named("reg_sum_scaled")->decode_args(wire);
  auto withheld = to_fetch(*on_node);
  ASSERT_EQ(withheld.size(), 1u);
  EXPECT_EQ(withheld[0].id, second_id);
}

TEST(Registry, AValueReceivedInPlaceIsMovedIntoTheCallAndOneOfAnotherTypeIsRefused) {
  auto args = actors::detail::make_args<std::vector<double>>(counting(one_mib / 4));
  keeper k;
  auto wire = args->encode_keeping_back(one_mib, k.fn());
  const auto* entry = actors::detail::function_named("reg_data_address");
  ASSERT_NE(entry, nullptr);
  auto on_node = entry->decode_args(wire);
  auto withheld = to_fetch(*on_node);
  ASSERT_EQ(withheld.size(), 1u);

  auto other = std::make_shared<std::vector<int>>(10, 1);
  EXPECT_FALSE(withheld[0].adopt({other, actors::detail::ops_of<std::vector<int>>()}));
  EXPECT_EQ(other->size(), 10u) << "a value of another type was taken";

  auto received = std::make_shared<std::vector<double>>(counting(one_mib / 4));
  const auto address = reinterpret_cast<std::uintptr_t>(received->data());
  ASSERT_TRUE(withheld[0].adopt({received, actors::detail::ops_of<std::vector<double>>()}));
  on_node->last_use();
  auto result = entry->invoke(entry->fn, *on_node);
  EXPECT_EQ(*static_cast<const std::uint64_t*>(result.value.get()), address)
    << "the received vector was copied on its way into the call";
}

TEST(Registry, TheCallerNeverMovesAValueWhileItIsBeingSent) {
  auto args = actors::detail::make_args<std::vector<double>>(counting(one_mib / 4));
  keeper k;
  (void)args->encode_keeping_back(one_mib, k.fn());
  const auto* entry = actors::detail::function_named("reg_data_address");
  const auto* sending = static_cast<const std::vector<double>*>(k.kept[0].value.get());
  args->last_use();
  auto result = entry->invoke(entry->fn, *args);
  EXPECT_NE(*static_cast<const std::uint64_t*>(result.value.get()), reinterpret_cast<std::uintptr_t>(sending->data()));
  EXPECT_EQ(sending->size(), one_mib / 4) << "the value held for the node was moved from";
}

TEST(Registry, AnArgumentOfAnUnknownFormIsAClearError) {
  auto wire = actors::detail::make_args<int>(5)->encode();
  // One byte says how the argument is written; the int follows it.
  ASSERT_GE(wire.size(), 1 + sizeof(int));
  const auto form = wire.size() - 1 - sizeof(int);
  ASSERT_EQ(wire[form], '\0');
  wire[form] = '\x07';
  try {
    (void)actors::detail::function_named("reg_square")->decode_args(wire);
    ADD_FAILURE() << "an argument of form 7 decoded";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::serialization_failed);
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
}

} // namespace
