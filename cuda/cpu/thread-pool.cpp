// See thread-pool.h.
#include "thread-pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MTP_PAUSE() _mm_pause()
#else
#define MTP_PAUSE() std::this_thread::yield()
#endif

namespace mtp {

namespace {
// How long an idle worker polls for the next job before it sleeps.
#ifndef MTP_POOL_SPIN_US
#define MTP_POOL_SPIN_US 200
#endif
constexpr auto kSpin = std::chrono::microseconds(MTP_POOL_SPIN_US);
constexpr auto kSpinNoYield = std::chrono::microseconds(50);
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::run_chunks(int index) {
    try {
        // A fixed share first (no shared counter to touch), then chunks of the rest as they come.
        const int64_t share = n_items_ * 3 / (4 * n_threads_);
        if (share > 0) (*job_)(index * share, (index + 1) * share);
        for (;;) {
            const int64_t begin = n_threads_ * share + next_.fetch_add(grain_, std::memory_order_relaxed);
            if (begin >= n_items_) return;
            (*job_)(begin, std::min(n_items_, begin + grain_));
        }
    } catch (...) {
        next_.store(n_items_, std::memory_order_relaxed);  // the others stop at their next chunk
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_release);
    }
}

void ThreadPool::worker(int index) {
    const FlushDenormals ftz;  // for the thread's whole life: it runs engine work only
    uint64_t seen = 0;
    for (;;) {
        // Poll for a while, then sleep until the generation changes. The gaps between the jobs of a
        // decode step are microseconds: poll with pause only at first (a yield is a system call
        // that delays the start of the next job), then also yield the core to other processes.
        auto start = std::chrono::steady_clock::now();
        for (int i = 0;; i++) {
            if (stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen) break;
            MTP_PAUSE();
            if ((i & 63) != 63) continue;
            const auto idle = std::chrono::steady_clock::now() - start;
            if (idle > kSpinNoYield) std::this_thread::yield();  // let a runnable thread of another process have this core
            if (idle > kSpin) {
                std::unique_lock<std::mutex> lock(mutex_);
                sleepers_.fetch_add(1);  // seq_cst: pairs with parallel_for's generation_ / sleepers_
                wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
                sleepers_.fetch_sub(1);
                break;
            }
        }
        if (stop_.load()) return;
        seen = generation_.load(std::memory_order_acquire);
        run_chunks(index);
        if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {  // seq_cst: pairs with parallel_for
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (n_threads_ == 1 || n == 1) {
        fn(0, n);
        return;
    }
    job_ = &fn;
    n_items_ = n;
    grain_ = std::max<int64_t>(1, n / (8 * n_threads_));
    next_.store(0, std::memory_order_relaxed);
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1);  // seq_cst, publishes job_ / n_items_ / grain_ / next_ / pending_
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_all();
    }
    run_chunks(0);
    // Poll for the workers (their ranges can take as long as ours: a futex wake-up would cost as
    // much as a small job), then sleep (a worker may be waiting for a core).
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; pending_.load(std::memory_order_acquire) != 0; i++) {
        MTP_PAUSE();
        if ((i & 63) != 63 || std::chrono::steady_clock::now() - start < kSpin) continue;
        std::unique_lock<std::mutex> lock(mutex_);
        caller_sleeping_.store(true);
        done_.wait(lock, [&] { return pending_.load() == 0; });
        caller_sleeping_.store(false);
        break;
    }
    job_ = nullptr;
    if (!failed_.load(std::memory_order_acquire)) return;  // no lock on the common path
    std::exception_ptr error;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        error = error_;
        error_ = nullptr;
    }
    failed_.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
}

}  // namespace mtp
