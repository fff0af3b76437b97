// How a process chooses the address it listens on and the one it advertises.
#include "runtime/common/addresses.hpp"
#include "runtime/node/options.hpp"

#include "actors/errors.hpp"
#include "actors/init.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using actors::runtime::choose_addresses;
using actors::runtime::is_loopback;
using actors::runtime::is_wildcard;

TEST(Addresses, HeadAndEmbeddedNodeListenOnLoopbackByDefault) {
  auto a = choose_addresses("", "", "");
  EXPECT_EQ(a.bind, "127.0.0.1");
  EXPECT_EQ(a.advertise, "127.0.0.1");
}

TEST(Addresses, MemberOfALoopbackHeadStaysOnLoopback) {
  auto a = choose_addresses("127.0.0.1:6380", "", "");
  EXPECT_EQ(a.bind, "127.0.0.1");
  EXPECT_EQ(a.advertise, "127.0.0.1");
}

TEST(Addresses, GivenBindIsAdvertised) {
  auto a = choose_addresses("10.0.0.5:6380", "10.0.0.7", "");
  EXPECT_EQ(a.bind, "10.0.0.7");
  EXPECT_EQ(a.advertise, "10.0.0.7");
}

TEST(Addresses, GivenAdvertiseAddressWinsOverBind) {
  auto a = choose_addresses("", "0.0.0.0", "node7.example");
  EXPECT_EQ(a.bind, "0.0.0.0");
  EXPECT_EQ(a.advertise, "node7.example");
}

TEST(Addresses, WildcardIsNeverAdvertised) {
  // A member of a loopback head: its own address toward the head is loopback.
  auto a = choose_addresses("127.0.0.1:6380", "0.0.0.0", "");
  EXPECT_EQ(a.bind, "0.0.0.0");
  EXPECT_EQ(a.advertise, "127.0.0.1");
  for (const char* wildcard : {"0.0.0.0", "::", "[::]"}) {
    try {
      choose_addresses("", "", wildcard);
      ADD_FAILURE() << wildcard << " was accepted as an address to advertise";
    } catch (const actors::error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot advertise"), std::string::npos) << e.what();
    }
  }
}

TEST(Addresses, MalformedHeadAddressIsRefusedWithAnExample) {
  try {
    choose_addresses("10.0.0.5", "", "");
    ADD_FAILURE() << "an address without a port was accepted";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("HOST:PORT"), std::string::npos) << e.what();
  }
}

TEST(Addresses, RouteToLoopbackStartsFromLoopback) {
  EXPECT_EQ(actors::runtime::address_toward("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(actors::runtime::address_toward("no-such-host.invalid"), "");
}

TEST(Addresses, KindsOfHosts) {
  EXPECT_TRUE(is_wildcard("0.0.0.0"));
  EXPECT_FALSE(is_wildcard("10.0.0.1"));
  EXPECT_TRUE(is_loopback("127.0.1.1"));
  EXPECT_TRUE(is_loopback("localhost"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
}

TEST(Addresses, FlagsAndEnvironmentSetBindAndAdvertiseAddress) {
  std::string a0 = "prog", a1 = "--actors-bind=0.0.0.0", a2 = "--actors-advertise-address", a3 = "10.1.2.3";
  std::vector<char*> argv{a0.data(), a1.data(), a2.data(), a3.data()};
  actors::init_options opts;
  actors::runtime::parse_options(static_cast<int>(argv.size()), argv.data(), opts);
  EXPECT_EQ(opts.bind, "0.0.0.0");
  EXPECT_EQ(opts.advertise_address, "10.1.2.3");
}
