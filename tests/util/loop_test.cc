#include "util/loop.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "util/status_macros.h"
#include "util/stop_signal.h"

namespace georep {
namespace {

TEST(StopSignalTest, StopWakesAWaiterAtOnce) {
  StopSignal stop;
  EXPECT_FALSE(stop.WaitFor(0.001));
  bool woke = false;
  // An hour's wait: this test would time out if Stop() did not end it.
  std::thread waiter([&] { woke = stop.WaitFor(3600); });
  stop.Stop();
  waiter.join();
  EXPECT_TRUE(woke);
  EXPECT_TRUE(stop.stopped());
  EXPECT_TRUE(stop.WaitFor(3600)) << "a stopped signal does not wait";
}

TEST(DoorbellTest, ARingEndsOneWaitAndStopEndsEveryWait) {
  StopSignal stop;
  Doorbell bell(&stop);
  EXPECT_FALSE(bell.WaitFor(0.001));
  EXPECT_FALSE(bell.TakeWoken()) << "a wait that timed out was not woken";
  // A ring before the wait is not lost: the wait returns at once.
  bell.Ring();
  EXPECT_FALSE(bell.WaitFor(3600));
  EXPECT_TRUE(bell.TakeWoken());
  EXPECT_FALSE(bell.TakeWoken()) << "taken once";
  // A ring from another thread ends an hour's wait.
  std::thread ringer([&] { bell.Ring(); });
  EXPECT_FALSE(bell.WaitFor(3600));
  ringer.join();
  EXPECT_TRUE(bell.TakeWoken());
  // Stop ends the bell's waits too, now and later.
  bool stopped = false;
  std::thread waiter([&] { stopped = bell.WaitFor(3600); });
  stop.Stop();
  waiter.join();
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(bell.WaitFor(3600));
  Doorbell late(&stop);
  EXPECT_TRUE(late.WaitFor(3600)) << "a bell attached after Stop() does not wait";
}

TEST(LoopTest, ADoorbellCutsTheIdleWaitShort) {
  StopSignal stop;
  Doorbell bell(&stop);
  int rounds = 0;
  std::vector<std::thread> ringers;
  LoopOptions options{"bell loop", 0.001, nullptr, &bell};
  RunLoop(options, stop, [&]() -> absl::StatusOr<double> {
    if (++rounds == 3) {
      stop.Stop();
      return 3600.0;
    }
    ringers.emplace_back([&bell] { bell.Ring(); });
    return 3600.0;  // an idle wait the ring ends
  });
  for (auto& t : ringers) t.join();
  EXPECT_EQ(rounds, 3);
}

TEST(LoopTest, ErrorsResetAndRetryUntilStopped) {
  StopSignal stop;
  int rounds = 0;
  int resets = 0;
  LoopOptions options{"test loop", 0.001, [&] { ++resets; }};
  RunLoop(options, stop, [&]() -> absl::StatusOr<double> {
    ++rounds;
    if (rounds <= 2) return absl::UnavailableError("database down");
    if (rounds < 4) return 0.0;  // more work: at once
    stop.Stop();
    return 3600.0;  // an idle wait that Stop() cuts short
  });
  EXPECT_EQ(rounds, 4);
  EXPECT_EQ(resets, 2);
  EXPECT_EQ(LoopErrorCounts()["test loop"], 2) << "each failed round counted, by loop";
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  GEOREP_ASSIGN_OR_RETURN(int half, Half(n));
  GEOREP_ASSIGN_OR_RETURN(auto quarter, Half(half));
  GEOREP_RETURN_IF_ERROR(quarter > 100 ? absl::OutOfRangeError("big") : absl::OkStatus());
  return quarter;
}

TEST(StatusMacrosTest, ReturnTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_EQ(Quarter(7).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(800).status().code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace georep
