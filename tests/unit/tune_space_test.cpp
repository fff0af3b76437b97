// Search spaces and configurations: every kind draws within its bounds and the
// same seed draws the same configurations; grid axes are crossed with
// num_samples; a bad space is refused with a message naming the parameter.
// Pure: no runtime is started. Links only the public libraries.

#include <actors/tune.hpp>

#include <gtest/gtest.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include <cmath>
#include <set>
#include <sstream>

namespace tune = actors::tune;

namespace {

tune::search_space every_kind() {
  return {
    {"lr", tune::loguniform(1e-4, 1e-1)},
    {"l2", tune::choice({0.0, 1e-4, 1e-3})},
    {"hidden", tune::randint(8, 65)},
    {"momentum", tune::grid({0.0, 0.9})},
    {"dropout", tune::uniform(0.0, 0.5)},
    {"activation", tune::choice({"relu", "tanh"})},
  };
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "no actors::error thrown";
  return {};
}

} // namespace

TEST(TuneSpace, EveryKindDrawsWithinItsBounds) {
  auto configs = tune::sample(every_kind(), 500, 7);
  ASSERT_EQ(configs.size(), 1000u);
  std::set<std::int64_t> hidden_seen;
  double lr_min = 1, lr_max = 0;
  for (const auto& c : configs) {
    double lr = c.get<double>("lr");
    EXPECT_GE(lr, 1e-4);
    EXPECT_LT(lr, 1e-1);
    lr_min = std::min(lr_min, lr);
    lr_max = std::max(lr_max, lr);
    double l2 = c.get<double>("l2");
    EXPECT_TRUE(l2 == 0.0 || l2 == 1e-4 || l2 == 1e-3) << l2;
    int hidden = c.get<int>("hidden");
    EXPECT_GE(hidden, 8);
    EXPECT_LT(hidden, 65);
    hidden_seen.insert(hidden);
    double m = c.get<double>("momentum");
    EXPECT_TRUE(m == 0.0 || m == 0.9);
    double d = c.get<double>("dropout");
    EXPECT_GE(d, 0.0);
    EXPECT_LT(d, 0.5);
    auto a = c.get<std::string>("activation");
    EXPECT_TRUE(a == "relu" || a == "tanh") << a;
  }
  // randint reaches both ends of [8, 65) and nothing past them.
  EXPECT_EQ(*hidden_seen.begin(), 8);
  EXPECT_EQ(*hidden_seen.rbegin(), 64);
  EXPECT_EQ(hidden_seen.size(), 57u);
  // loguniform spreads over the decades: some draws below 1e-3, some above 1e-2.
  EXPECT_LT(lr_min, 1e-3);
  EXPECT_GT(lr_max, 1e-2);
}

TEST(TuneSpace, TheSameSeedDrawsTheSameConfigs) {
  auto a = tune::sample(every_kind(), 20, 42);
  auto b = tune::sample(every_kind(), 20, 42);
  auto c = tune::sample(every_kind(), 20, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(TuneSpace, GridAxesAreCrossedWithNumSamples) {
  tune::search_space space{
    {"a", tune::grid({1, 2, 3})},
    {"b", tune::grid({"x", "y"})},
    {"c", tune::uniform(0, 1)},
  };
  auto configs = tune::sample(space, 4, 1);
  ASSERT_EQ(configs.size(), 3u * 2u * 4u);
  std::map<std::pair<int, std::string>, int> per_point;
  for (const auto& c : configs)
    ++per_point[{c.get<int>("a"), c.get<std::string>("b")}];
  ASSERT_EQ(per_point.size(), 6u);
  for (const auto& [point, n] : per_point)
    EXPECT_EQ(n, 4) << point.first << "," << point.second;
}

TEST(TuneSpace, AConfigCrossesAnArchiveIntact) {
  auto c = tune::sample(every_kind(), 1, 3).front();
  std::stringstream bytes;
  {
    boost::archive::binary_oarchive out(bytes);
    out << c;
  }
  tune::config back;
  boost::archive::binary_iarchive in(bytes);
  in >> back;
  EXPECT_EQ(back, c);
  EXPECT_EQ(back.get<std::string>("activation"), c.get<std::string>("activation"));
}

TEST(TuneSpace, ABadSpaceIsRefusedNamingTheParameter) {
  EXPECT_NE(message_of([] { tune::sample({{"lr", tune::uniform(1, 1)}}, 1, 0); }).find("\"lr\""), std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"lr", tune::loguniform(0, 1)}}, 1, 0); }).find("above 0"),
            std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"n", tune::randint(5, 5)}}, 1, 0); }).find("\"n\""), std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"n", tune::randint(-(std::int64_t{1} << 62), 5)}}, 1, 0); })
              .find("2^53"),
            std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"c", tune::choice({})}}, 1, 0); }).find("no values"), std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"g", tune::grid({})}}, 1, 0); }).find("no values"), std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"a", tune::uniform(0, 1)}, {"a", tune::uniform(0, 1)}}, 1, 0); })
              .find("twice"),
            std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"u", tune::uniform(0, NAN)}}, 1, 0); }).find("finite"), std::string::npos);
  EXPECT_NE(message_of([] { tune::sample({{"a", tune::uniform(0, 1)}}, 0, 0); }).find("num_samples"),
            std::string::npos);
}

TEST(TuneSpace, AMissingOrMistypedParameterSaysWhatThereIs) {
  tune::config c{{"lr", 0.1}, {"act", "relu"}};
  auto missing = message_of([&] { c.get<double>("momentum"); });
  EXPECT_NE(missing.find("momentum"), std::string::npos);
  EXPECT_NE(missing.find("act, lr"), std::string::npos);
  EXPECT_NE(message_of([&] { c.get<double>("act"); }).find("parameter \"act\" is the text \"relu\""),
            std::string::npos);
  EXPECT_NE(message_of([&] { c.get<std::string>("lr"); }).find("parameter \"lr\" is the number 0.1"),
            std::string::npos);
}
