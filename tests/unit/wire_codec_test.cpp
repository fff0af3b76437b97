// The payload encoding nodes send each other (runtime/wire/codec.hpp): every
// field comes back as it was, and malformed bytes are refused with an error that
// says what is wrong, never read past their end or allocated for.

#include "runtime/wire/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

namespace wire = actors::runtime::wire;
using actors::error;
using actors::errc;

wire::task_request sample_request() {
  wire::task_request r;
  r.key = 0x0102030405060708ULL;
  r.function = "square";
  r.signature = "FiiE";
  r.options.num_cpus = 0.5;
  r.options.resources = {{"GPU", 1.0}, {"memory", 2e9}};
  r.options.max_retries = -1;
  r.options.retry_exceptions = true;
  r.options.name = "a task";
  r.options.placement.strategy = actors::scheduling_strategy::spread;
  r.options.placement.affinity.value = 42;
  r.options.placement.soft = false;
  r.options.placement.group = "pg";
  r.options.placement.bundle = 3;
  r.options.stream = {7, 8};
  r.options.max_buffered = 9;
  r.options.ns = "namespace";
  r.args = std::string("\0\x01\x02 binary", 10);
  r.owner.value = 0xfedcba9876543210ULL;
  r.inlined.push_back({{1, 2}, "i", std::string(200, 'x')});
  r.located.push_back({{3, 4}, {5}, {6, 7}, "St6vectorIdSaIdEE", 1u << 20});
  r.args_held = true;
  r.held_args = {{8, 9}, {10}, {11, 12}, "args", 123456};
  return r;
}

template <class T>
void expect_malformed(const std::string& bytes, const std::string& says) {
  try {
    (void) wire::unpack<T>(bytes, "test payload");
    ADD_FAILURE() << "decoded " << bytes.size() << " malformed bytes; expected an error saying '" << says << "'";
  } catch (const error& e) {
    EXPECT_EQ(e.code(), errc::serialization_failed);
    std::string what = e.what();
    EXPECT_NE(what.find("malformed test payload"), std::string::npos) << what;
    EXPECT_NE(what.find(says), std::string::npos) << what;
  }
}

TEST(WireCodec, ATaskRequestComesBackFieldForField) {
  auto r = sample_request();
  auto back = wire::unpack<wire::task_request>(wire::pack(r), "task request");
  EXPECT_EQ(back.key, r.key);
  EXPECT_EQ(back.function, r.function);
  EXPECT_EQ(back.signature, r.signature);
  EXPECT_EQ(back.options.num_cpus, r.options.num_cpus);
  EXPECT_EQ(back.options.resources, r.options.resources);
  EXPECT_EQ(back.options.max_retries, r.options.max_retries);
  EXPECT_EQ(back.options.retry_exceptions, r.options.retry_exceptions);
  EXPECT_EQ(back.options.name, r.options.name);
  EXPECT_EQ(back.options.placement.strategy, r.options.placement.strategy);
  EXPECT_EQ(back.options.placement.affinity, r.options.placement.affinity);
  EXPECT_EQ(back.options.placement.soft, r.options.placement.soft);
  EXPECT_EQ(back.options.placement.group, r.options.placement.group);
  EXPECT_EQ(back.options.placement.bundle, r.options.placement.bundle);
  EXPECT_EQ(back.options.stream, r.options.stream);
  EXPECT_EQ(back.options.max_buffered, r.options.max_buffered);
  EXPECT_EQ(back.options.ns, r.options.ns);
  EXPECT_EQ(back.args, r.args);
  EXPECT_EQ(back.owner, r.owner);
  ASSERT_EQ(back.inlined.size(), 1u);
  EXPECT_EQ(back.inlined[0].id, r.inlined[0].id);
  EXPECT_EQ(back.inlined[0].type_name, r.inlined[0].type_name);
  EXPECT_EQ(back.inlined[0].bytes, r.inlined[0].bytes);
  ASSERT_EQ(back.located.size(), 1u);
  EXPECT_EQ(back.located[0].holder, r.located[0].holder);
  EXPECT_EQ(back.located[0].remote_id, r.located[0].remote_id);
  EXPECT_EQ(back.located[0].size, r.located[0].size);
  EXPECT_TRUE(back.args_held);
  EXPECT_EQ(back.held_args.id, r.held_args.id);
  EXPECT_EQ(back.held_args.size, r.held_args.size);
  // The same bytes again: nothing was lost or reordered.
  EXPECT_EQ(wire::pack(back), wire::pack(r));
}

TEST(WireCodec, NestedBatchesMapsAndVectorsComeBack) {
  wire::cluster_view view;
  view.version = 12;
  wire::node_record rec;
  rec.id.value = 99;
  rec.address = "10.0.0.1:7000";
  rec.total = {{"CPU", 8}, {"GPU", 2}};
  rec.available = {{"CPU", 3.5}};
  rec.pending.push_back({{{"CPU", 1}}, 1000});
  rec.draining = true;
  view.nodes = {rec, rec};
  view.requested = {{{"CPU", 4}}, {}};
  view.autoscaler = "status";
  auto back = wire::unpack<wire::cluster_view>(wire::pack(view), "node table");
  EXPECT_EQ(back.version, 12u);
  ASSERT_EQ(back.nodes.size(), 2u);
  EXPECT_EQ(back.nodes[1].address, rec.address);
  EXPECT_EQ(back.nodes[1].total, rec.total);
  EXPECT_EQ(back.nodes[1].available, rec.available);
  EXPECT_EQ(back.nodes[1].pending, rec.pending);
  EXPECT_TRUE(back.nodes[1].draining);
  EXPECT_EQ(back.requested, view.requested);
  EXPECT_EQ(back.autoscaler, "status");

  wire::result_batch batch;
  for (int i = 0; i < 300; ++i) {
    wire::result r;
    r.key = static_cast<std::uint64_t>(i);
    r.ok = i % 2 == 0;
    r.bytes = std::string(static_cast<std::size_t>(i), 'b');
    r.why.code = errc::task_failed;
    r.why.message = "failed";
    batch.results.push_back(wire::pack(r));
  }
  auto batch_back = wire::unpack<wire::result_batch>(wire::pack(batch), "result batch");
  ASSERT_EQ(batch_back.results.size(), 300u);
  auto r299 = wire::unpack<wire::result>(batch_back.results[299], "result");
  EXPECT_EQ(r299.key, 299u);
  EXPECT_FALSE(r299.ok);
  EXPECT_EQ(r299.bytes.size(), 299u);
  EXPECT_EQ(r299.why.code, errc::task_failed);
}

TEST(WireCodec, LengthsTakeOneByteUpTo127AndMoreAfter) {
  wire::bundle_ref small{std::string(127, 'g'), 0};
  wire::bundle_ref large{std::string(128, 'g'), 0};
  // The length, the bytes, the 4-byte index.
  EXPECT_EQ(wire::pack(small).size(), 1u + 127u + 4u);
  EXPECT_EQ(wire::pack(large).size(), 2u + 128u + 4u);
  EXPECT_EQ(wire::unpack<wire::bundle_ref>(wire::pack(large), "bundle").group, large.group);
}

TEST(WireCodec, EveryTruncationIsRefusedWithAnError) {
  auto bytes = wire::pack(sample_request());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    try {
      (void) wire::unpack<wire::task_request>(bytes.substr(0, n), "task request");
      ADD_FAILURE() << "the first " << n << " of " << bytes.size() << " bytes decoded";
    } catch (const error& e) {
      EXPECT_EQ(e.code(), errc::serialization_failed);
    }
  }
}

TEST(WireCodec, BytesAfterThePayloadAreRefused) {
  expect_malformed<wire::release_request>(wire::pack(wire::release_request{{1, 2}}) + "x",
                                          "1 bytes follow the end of the payload");
}

TEST(WireCodec, ABoolOtherThanZeroOrOneIsRefused) {
  auto bytes = wire::pack(wire::request_answer{true, "fine"});
  bytes[0] = 2;
  expect_malformed<wire::request_answer>(bytes, "a bool reads 2, not 0 or 1");
}

TEST(WireCodec, ALengthLargerThanTheBytesLeftIsRefusedBeforeAnythingIsAllocated) {
  // A string that says it holds 2^62 bytes, then four bytes.
  std::string huge_string;
  huge_string.push_back(1); // ok = true
  for (int i = 0; i < 8; ++i)
    huge_string.push_back(static_cast<char>(0x80));
  huge_string.push_back(0x40);
  huge_string += "abcd";
  expect_malformed<wire::request_answer>(huge_string, "is more than the 4 bytes left");

  // A vector of a million 8-byte node ids in 100 bytes.
  std::string many_ids;
  for (std::uint64_t n = 1'000'000; n != 0; n >>= 7)
    many_ids.push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
  many_ids += std::string(100, '\0');
  expect_malformed<wire::result_batch>(many_ids, "a length of 1000000 is more than the 100 bytes left");

  // A length whose encoding runs past 64 bits.
  std::string endless(11, static_cast<char>(0xff));
  expect_malformed<wire::bundle_ref>(endless, "a length runs past 64 bits");
}

TEST(WireCodec, AnEmptyPayloadOfAStructWithFieldsIsRefused) {
  expect_malformed<wire::fetch_request>("", "cut short");
}

} // namespace
