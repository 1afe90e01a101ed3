#pragma once
// The order in which requests get the engine. One request runs at a time (batching many
// sequences comes later); the others wait in a bounded queue that is fair between clients:
// turns go round-robin over the clients that are waiting, first come first served within one
// client, so a client that sends many requests cannot starve the others.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace kt::engine {

class FairQueue {
 public:
  // max_waiting: requests that may wait besides the running one; more are refused.
  explicit FairQueue(size_t max_waiting);

  // Holds the engine while alive; the next waiting request gets it when it is destroyed.
  class Turn {
   public:
    Turn() = default;
    Turn(Turn&& o) noexcept : q_(o.q_) { o.q_ = nullptr; }
    Turn& operator=(Turn&& o) noexcept;
    ~Turn();
    explicit operator bool() const { return q_ != nullptr; }

   private:
    friend class FairQueue;
    explicit Turn(FairQueue* q) : q_(q) {}
    FairQueue* q_ = nullptr;
  };

  enum class Outcome { kGranted, kFull, kWithdrawn };
  // Waits for this request's turn. keep_waiting is asked every `poll` while waiting; when it
  // says false (the client went away) the request leaves the queue (kWithdrawn). kFull: the
  // queue already holds max_waiting requests; the caller answers 503.
  Outcome acquire(const std::string& client, Turn* turn,
                  const std::function<bool()>& keep_waiting = nullptr,
                  std::chrono::milliseconds poll = std::chrono::milliseconds(1000));

  size_t waiting() const;
  bool busy() const;
  size_t max_waiting() const { return max_waiting_; }

 private:
  void release();
  bool my_turn(const std::string& client, uint64_t ticket) const;

  const size_t max_waiting_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  size_t n_waiting_ = 0;
  uint64_t next_ticket_ = 0;
  // Waiting tickets per client, and the order in which clients take turns.
  std::map<std::string, std::deque<uint64_t>> waiting_;
  std::deque<std::string> clients_;  // round-robin order of clients with waiting requests
};

}  // namespace kt::engine
