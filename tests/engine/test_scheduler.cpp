// The fair queue: one request runs at a time, waiting ones get turns round-robin over clients,
// a full queue refuses, and a client that goes away leaves its place.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/scheduler.h"

namespace kt::engine {
namespace {

using namespace std::chrono_literals;

// Waits until `n` requests are queued.
void wait_queued(const FairQueue& q, size_t n) {
  while (q.waiting() < n) std::this_thread::sleep_for(1ms);
}

TEST(FairQueue, FirstRequestRunsAtOnceAndSecondWaits) {
  FairQueue q(4);
  FairQueue::Turn a;
  ASSERT_EQ(q.acquire("x", &a), FairQueue::Outcome::kGranted);
  EXPECT_TRUE(q.busy());
  std::atomic<bool> got{false};
  std::thread t([&] {
    FairQueue::Turn b;
    EXPECT_EQ(q.acquire("y", &b), FairQueue::Outcome::kGranted);
    got = true;
  });
  wait_queued(q, 1);
  EXPECT_FALSE(got);
  a = FairQueue::Turn();  // releases
  t.join();
  EXPECT_TRUE(got);
  EXPECT_FALSE(q.busy());
}

TEST(FairQueue, FullQueueRefuses) {
  FairQueue q(1);
  FairQueue::Turn a;
  ASSERT_EQ(q.acquire("x", &a), FairQueue::Outcome::kGranted);
  std::thread t([&] {
    FairQueue::Turn b;
    EXPECT_EQ(q.acquire("y", &b), FairQueue::Outcome::kGranted);
  });
  wait_queued(q, 1);
  FairQueue::Turn c;
  EXPECT_EQ(q.acquire("z", &c), FairQueue::Outcome::kFull);
  EXPECT_FALSE(c);
  a = FairQueue::Turn();
  t.join();
}

TEST(FairQueue, TurnsGoRoundRobinOverClients) {
  FairQueue q(16);
  FairQueue::Turn running;
  ASSERT_EQ(q.acquire("busy", &running), FairQueue::Outcome::kGranted);
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  // Client A queues three requests before B and C queue one each.
  auto enqueue = [&](const std::string& client, const std::string& tag) {
    const size_t before = q.waiting();
    threads.emplace_back([&, client, tag] {
      FairQueue::Turn t;
      ASSERT_EQ(q.acquire(client, &t), FairQueue::Outcome::kGranted);
      std::lock_guard lock(mu);
      order.push_back(tag);
    });
    wait_queued(q, before + 1);
  };
  enqueue("A", "A1");
  enqueue("A", "A2");
  enqueue("A", "A3");
  enqueue("B", "B1");
  enqueue("C", "C1");
  running = FairQueue::Turn();
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<std::string>{"A1", "B1", "C1", "A2", "A3"}));
}

TEST(FairQueue, AClientThatLeavesGivesUpItsPlace) {
  FairQueue q(4);
  FairQueue::Turn running;
  ASSERT_EQ(q.acquire("x", &running), FairQueue::Outcome::kGranted);
  std::atomic<bool> gone{false};
  std::thread leaver([&] {
    FairQueue::Turn t;
    EXPECT_EQ(q.acquire(
                  "y", &t, [&] { return !gone.load(); }, 5ms),
              FairQueue::Outcome::kWithdrawn);
  });
  wait_queued(q, 1);
  gone = true;
  leaver.join();
  EXPECT_EQ(q.waiting(), 0u);
  running = FairQueue::Turn();
  FairQueue::Turn next;
  EXPECT_EQ(q.acquire("z", &next), FairQueue::Outcome::kGranted);
}

}  // namespace
}  // namespace kt::engine
