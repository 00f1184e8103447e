#include "prefetch.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <vector>

namespace sway {

namespace {

// Waiting for an earlier step to become resident: poll this often, at most this long
// (then ask for the next step anyway: a slow disk only makes the queue deeper).
constexpr auto kResidentPoll = std::chrono::milliseconds(1);
constexpr auto kResidentWaitMax = std::chrono::milliseconds(200);

// Which pages of a file are resident, through a mapping that is never touched (mincore
// needs one; mapping costs no I/O). Without a mapping every step counts as not resident.
class Residency {
 public:
  Residency(int fd, uint64_t size) : size_(size) {
    void* p = size ? mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (p != MAP_FAILED) base_ = static_cast<char*>(p);
  }
  ~Residency() {
    if (base_) munmap(base_, size_);
  }
  bool resident(uint64_t off, uint64_t len) {
    if (!base_) return false;
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t pages = (len + page - 1) / page;
    vec_.resize(pages);
    if (mincore(base_ + off, len, vec_.data()) != 0) return false;
    for (unsigned char v : vec_)
      if (!(v & 1)) return false;
    return true;
  }

 private:
  char* base_ = nullptr;
  uint64_t size_;
  std::vector<unsigned char> vec_;
};

// MemAvailable of /proc/meminfo in bytes, 0 if unreadable.
uint64_t memAvailable() {
  FILE* f = fopen("/proc/meminfo", "re");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  fclose(f);
  return static_cast<uint64_t>(kb) * 1024;
}

}  // namespace

void Prefetcher::start(const std::string& hash, int fd, uint64_t size, std::chrono::milliseconds delay,
                       StillOpen stillOpen, OnPrefetch onPrefetch) {
  std::lock_guard<std::mutex> lock(mu_);
  bool inserted = false, handed = false;
  try {
    if (stopping_ || !(inserted = queued_.insert(hash).second)) {
      close(fd);
      return;
    }
    jobs_.push_back(Job{hash, fd, size, std::chrono::steady_clock::now() + delay, std::move(stillOpen),
                        std::move(onPrefetch)});
    handed = true;  // the job owns the fd now (stop() closes it if no thread runs it)
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  } catch (const std::exception&) {  // no memory or no thread: no prefetch, never an exception
    if (!handed) {
      if (inserted) queued_.erase(hash);
      close(fd);
    }
    return;
  }
  wake_.notify_one();
}

void Prefetcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (const Job& job : jobs_) close(job.fd);
  jobs_.clear();
  queued_.clear();
}

void Prefetcher::run() {
  // Signals belong to Node's main thread.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  pthread_setname_np(pthread_self(), "sway-prefetch");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    // Jobs are queued in start order with one delay, so the front is the first due.
    const auto due = jobs_.front().notBefore;
    if (wake_.wait_until(lock, due, [this] { return stopping_; })) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      if (job.stillOpen()) prefetch(job);
    } catch (const std::exception&) {}  // nothing may leave this thread (std::terminate)
    close(job.fd);
    lock.lock();
    queued_.erase(job.hash);
  }
}

void Prefetcher::prefetch(const Job& job) {
  Residency residency(job.fd, job.size);
  const uint64_t budget = std::max(kMinBudget, memAvailable() / 4);
  const uint64_t steps = (std::min(job.size, budget) + kStepBytes - 1) / kStepBytes;
  auto stepLen = [&](uint64_t k) { return std::min(kStepBytes, job.size - k * kStepBytes); };
  for (uint64_t k = 0; k < steps; k++) {
    if (stopping() || !job.stillOpen()) return;
    const uint64_t off = k * kStepBytes;
    if (residency.resident(off, stepLen(k))) continue;
    // Keep the queue bounded: the step kStepsAhead back must have arrived first.
    if (k >= kStepsAhead) {
      const uint64_t back = k - kStepsAhead;
      const auto giveUp = std::chrono::steady_clock::now() + kResidentWaitMax;
      while (!residency.resident(back * kStepBytes, stepLen(back)) && std::chrono::steady_clock::now() < giveUp) {
        if (stopping()) return;
        std::this_thread::sleep_for(kResidentPoll);
      }
    }
    posix_fadvise(job.fd, static_cast<off_t>(off), static_cast<off_t>(stepLen(k)), POSIX_FADV_WILLNEED);
    job.onPrefetch(stepLen(k));
  }
}

}  // namespace sway
