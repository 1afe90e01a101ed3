#include "engine/scheduler.h"

#include <algorithm>

namespace kt::engine {

FairQueue::FairQueue(size_t max_waiting) : max_waiting_(max_waiting) {}

FairQueue::Turn::~Turn() {
  if (q_) q_->release();
}

FairQueue::Turn& FairQueue::Turn::operator=(Turn&& o) noexcept {
  if (this != &o) {
    if (q_) q_->release();
    q_ = o.q_;
    o.q_ = nullptr;
  }
  return *this;
}

bool FairQueue::my_turn(const std::string& client, uint64_t ticket) const {
  return !running_ && !clients_.empty() && clients_.front() == client &&
         waiting_.at(client).front() == ticket;
}

FairQueue::Outcome FairQueue::acquire(const std::string& client, Turn* turn,
                                      const std::function<bool()>& keep_waiting,
                                      std::chrono::milliseconds poll) {
  std::unique_lock lock(mu_);
  if (!running_ && n_waiting_ == 0) {
    running_ = true;
    *turn = Turn(this);
    return Outcome::kGranted;
  }
  if (n_waiting_ >= max_waiting_) return Outcome::kFull;
  const uint64_t ticket = next_ticket_++;
  std::deque<uint64_t>& mine = waiting_[client];
  if (mine.empty()) clients_.push_back(client);
  mine.push_back(ticket);
  ++n_waiting_;

  // Leaves the queue: the ticket goes, and the client too when it has no other.
  auto leave = [&](bool granted) {
    std::deque<uint64_t>& q = waiting_[client];
    q.erase(std::find(q.begin(), q.end(), ticket));
    const bool was_front = granted;
    if (q.empty()) {
      waiting_.erase(client);
      clients_.erase(std::find(clients_.begin(), clients_.end(), client));
    } else if (was_front) {
      // Its turn is used: the client goes to the back of the round.
      clients_.pop_front();
      clients_.push_back(client);
    }
    --n_waiting_;
  };

  while (!my_turn(client, ticket)) {
    if (cv_.wait_for(lock, poll) == std::cv_status::timeout && keep_waiting) {
      lock.unlock();
      const bool stay = keep_waiting();
      lock.lock();
      if (!stay && !my_turn(client, ticket)) {
        leave(false);
        cv_.notify_all();
        return Outcome::kWithdrawn;
      }
    }
  }
  leave(true);
  running_ = true;
  *turn = Turn(this);
  return Outcome::kGranted;
}

void FairQueue::release() {
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  cv_.notify_all();
}

size_t FairQueue::waiting() const {
  std::lock_guard lock(mu_);
  return n_waiting_;
}

bool FairQueue::busy() const {
  std::lock_guard lock(mu_);
  return running_;
}

}  // namespace kt::engine
