// A small fixed pool of std::threads for the CPU backend. parallel_for gives each thread (the
// caller's is thread 0) a fixed share of 3/4 of [0, n) / threads, hands out the rest in chunks of
// about n / (8 · threads) items claimed from a shared counter, and returns when all are done: the
// cores of a shared machine do not run at the same speed (a static half each left one waiting
// 10–20 us on most matrix products).
// Between calls a worker spins briefly (a decode step dispatches a parallel_for every few
// microseconds, and waking a sleeping thread costs more than the work of a small one), then sleeps
// on a condition variable; the caller likewise polls briefly for the workers, then sleeps. The
// machines this runs on are shared, so nothing spins for long.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace mtp {

// Flushes denormal results and inputs to zero (x86 MXCSR FTZ | DAZ) while it lives, then restores
// the caller's mode: the thread that enters the engine is the JavaScript runtime's, whose float
// semantics must not change. A decaying Gated DeltaNet state drifts into the denormal range, where
// every operation costs a microcode assist (a recurrence step ran ~9x slower); values that small
// (< 1.2e-38) do not change any logit.
class FlushDenormals {
public:
#if defined(__x86_64__) || defined(__i386__)
    FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
    ~FlushDenormals() { _mm_setcsr(saved_); }

private:
    unsigned saved_;
#endif
};

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // fn(begin, end) for disjoint ranges covering [0, n), called from any of the threads, possibly
    // several times on one. Rethrows the first exception of any range.
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

private:
    void worker(int index);
    void run_chunks(int index);

    int n_threads_;
    std::vector<std::thread> threads_;
    // What a dispatch writes and the workers poll share one cache line: a dispatch then costs one
    // line transfer each way instead of one per field (0.75 instead of 1.0 us for an empty job).
    alignas(64) const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    int64_t n_items_ = 0, grain_ = 1;
    std::atomic<int64_t> next_{0};  // the first item not yet claimed
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> caller_sleeping_{false};
    alignas(64) std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::exception_ptr error_;       // under mutex_
    std::atomic<bool> failed_{false};  // error_ is set
};

}  // namespace mtp
