// The head's side of jobs without a cluster: files by content hash, and the job
// manager starting, watching and stopping real programs.
#include "runtime/jobs/blob_store.hpp"
#include "runtime/jobs/job_manager.hpp"
#include "tests/support/runtime_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using actors::runtime::blob_store;
using actors::runtime::job_manager;
using actors::runtime::sha256_hex;

TEST(BlobStore, FileWrittenInChunksIsKeptUnderItsHash) {
  actors::test::temp_dir dir("blobs");
  blob_store files(dir.path());
  std::string data(3000, 'a');
  data += "tail";
  auto hash = sha256_hex(data);
  EXPECT_EQ(hash, sha256_hex(std::string(3000, 'a') + "tail"));
  EXPECT_EQ(files.write(hash, 0, data.substr(0, 1000), false), "");
  EXPECT_FALSE(files.has(hash)) << "a file is there only once complete";
  EXPECT_EQ(files.write(hash, 1000, data.substr(1000), true), "");
  ASSERT_TRUE(files.has(hash));
  bool last = false;
  EXPECT_EQ(files.read(hash, 0, 2000, last), data.substr(0, 2000));
  EXPECT_FALSE(last);
  EXPECT_EQ(files.read(hash, 2000, 1 << 20, last), data.substr(2000));
  EXPECT_TRUE(last);
}

TEST(BlobStore, WrongHashGapAndMalformedNameAreRefusedSayingWhat) {
  actors::test::temp_dir dir("blobs");
  blob_store files(dir.path());
  auto hash = sha256_hex("right");
  auto why = files.write(hash, 0, "wrong", true);
  EXPECT_NE(why.find("has the hash"), std::string::npos) << why;
  EXPECT_FALSE(files.has(hash));
  EXPECT_EQ(files.write(hash, 0, "ri", false), "");
  why = files.write(hash, 5, "ght", true);
  EXPECT_NE(why.find("does not follow"), std::string::npos) << why;
  why = files.write("../../etc/passwd", 0, "x", true);
  EXPECT_NE(why.find("is not a SHA-256 hash"), std::string::npos) << why;
  bool last = false;
  EXPECT_THROW(files.read("../../etc/passwd", 0, 10, last), actors::error);
}

namespace {

actors::runtime::wire::job_file uploaded(job_manager& jobs, const std::string& path, const std::string& name) {
  return {name, jobs.files().add_file(path), 0};
}

} // namespace

TEST(JobManager, ProgramRunsInItsDirectoryAndItsEndIsRecorded) {
  actors::test::temp_dir dir("jobs");
  job_manager jobs({dir.path(), "10.0.0.1:6380", "token", {}, {}, {}});
  actors::runtime::wire::job_spec spec;
  spec.program = uploaded(jobs, "/bin/sh", "sh");
  spec.args = {"-c", "echo \"at $ACTORS_ADDRESS as $ACTORS_JOB_ID with $X\"; exit 4"};
  spec.env = {{"X", "y"}};
  auto started = jobs.submit(spec);
  EXPECT_EQ(started.state, "RUNNING");
  ASSERT_TRUE(actors::test::eventually([&] { return jobs.status(started.id).state != "RUNNING"; }, 10s));
  auto ended = jobs.status(started.id);
  EXPECT_EQ(ended.state, "FAILED");
  EXPECT_EQ(ended.exit_code, 4);
  auto out = jobs.logs(started.id, 0).bytes;
  EXPECT_EQ(out, "at 10.0.0.1:6380 as " + started.id + " with y\n");
}

TEST(JobManager, StoppedJobEndsStoppedAndUnknownFilesAreRefused) {
  actors::test::temp_dir dir("jobs");
  job_manager jobs({dir.path(), "10.0.0.1:6380", "token", {}, {}, {}});
  actors::runtime::wire::job_spec spec;
  spec.program = uploaded(jobs, "/bin/sh", "sh");
  spec.args = {"-c", "sleep 30"};
  auto started = jobs.submit(spec);
  auto stopped = jobs.stop(started.id);
  EXPECT_EQ(stopped.state, "STOPPED");
  EXPECT_EQ(jobs.list().size(), 1u);

  spec.libraries = {{"libx.so", sha256_hex("never uploaded"), 0}};
  try {
    jobs.submit(spec);
    ADD_FAILURE() << "a job naming a file that was not uploaded started";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("was not uploaded"), std::string::npos) << e.what();
  }
  spec.libraries = {{"../escape.so", spec.program.hash, 0}};
  EXPECT_THROW(jobs.submit(spec), actors::error);
  EXPECT_THROW(jobs.status("job-nope"), actors::error);
}
