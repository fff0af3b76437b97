// The head's state file: what a restarted head reads back.

#include "runtime/control_store/head_state.hpp"

#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace rt = actors::runtime;

namespace {

class HeadState : public ::testing::Test {
 protected:
  std::filesystem::path dir;

  void SetUp() override {
    char tmpl[] = "/tmp/actors-head-state-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir);
  }

  static rt::head_state sample() {
    rt::head_state s;
    s.token = "0123456789abcdef";
    s.view.version = 42;
    rt::wire::node_record head;
    head.id = actors::node_id{1};
    head.address = "127.0.0.1:6380";
    head.head = true;
    rt::wire::node_record node;
    node.id = actors::node_id{2};
    node.address = "127.0.0.1:40000";
    node.total = {{"CPU", 2}, {"GPU", 1}};
    s.view.nodes = {head, node};
    s.names["counter"] = rt::wire::named_actor{actors::actor_id{2, 7}, "N3job7CounterE", actors::node_id{2}};
    s.restarts = 3;
    return s;
  }
};

} // namespace

TEST_F(HeadState, NothingSavedIsNoState) {
  EXPECT_FALSE(rt::load_head_state(dir).has_value());
}

TEST_F(HeadState, ReadsBackWhatWasSaved) {
  rt::save_head_state(dir / "made", sample());
  auto s = rt::load_head_state(dir / "made");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->token, "0123456789abcdef");
  EXPECT_EQ(s->view.version, 42u);
  ASSERT_EQ(s->view.nodes.size(), 2u);
  EXPECT_TRUE(s->view.nodes[0].head);
  EXPECT_EQ(s->view.nodes[1].total.at("GPU"), 1);
  ASSERT_EQ(s->names.count("counter"), 1u);
  EXPECT_EQ(s->names.at("counter").id, (actors::actor_id{2, 7}));
  EXPECT_EQ(s->restarts, 3u);
  EXPECT_FALSE(std::filesystem::exists(rt::head_state_file(dir / "made").string() + ".tmp"));
}

TEST_F(HeadState, SavingAgainReplacesTheState) {
  auto s = sample();
  rt::save_head_state(dir, s);
  s.names.clear();
  s.view.version = 43;
  rt::save_head_state(dir, s);
  auto back = rt::load_head_state(dir);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->names.empty());
  EXPECT_EQ(back->view.version, 43u);
}

TEST_F(HeadState, AnotherFormatVersionIsRefusedWithWhatToDo) {
  std::ofstream(rt::head_state_file(dir)) << "actors head state\n999\nwhatever";
  try {
    (void)rt::load_head_state(dir);
    FAIL() << "expected actors::error";
  } catch (const actors::error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("format version 999"), std::string::npos) << what;
    EXPECT_NE(what.find("move the directory away"), std::string::npos) << what;
  }
}

TEST_F(HeadState, ForeignOrDamagedFilesAreRefused) {
  std::ofstream(rt::head_state_file(dir)) << "something else\n";
  EXPECT_THROW((void)rt::load_head_state(dir), actors::error);
  auto bytes = std::string("actors head state\n1\n") + "\x01\x02\x03";
  std::ofstream(rt::head_state_file(dir), std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THROW((void)rt::load_head_state(dir), actors::error);
}
