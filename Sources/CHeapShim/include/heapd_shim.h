// heapd's C shim: only what Swift cannot reach by itself.
//
// - Thread-local storage. Swift has no thread-local keyword; these C `_Thread_local` slots with
//   static inline accessors compile to a single `mov %fs:...` in Swift callers: 0.3 ns per access
//   against 2 ns for pthread_getspecific, measured on the project's machine before heapd was
//   written.
// - sched_getcpu and thread affinity, which glibc declares only under _GNU_SOURCE.
// - A compiler barrier for microbenchmarks, and the CPU's spin-wait hint.
// - The concurrent collector's racy reads (and its one racy generation update) of memory that
//   mutators write without synchronising with it.
#ifndef HEAPD_SHIM_H
#define HEAPD_SHIM_H

#include <stdint.h>

// The slots below use the initial-exec TLS model. Swift compiles C as position-independent code,
// whose default (general-dynamic) model makes every access a call to __tls_get_addr as far as
// the compiler knows: the static link relaxes it to one `mov %fs:...`, but the code around it
// was already built around a call (arguments moved to callee-saved registers and back, and
// registers saved in functions that call nothing else). Initial-exec is a plain load from the
// thread pointer; it needs the slots in the static TLS block, which holds for an executable and
// for libraries loaded with it (not for one opened later with dlopen).
#define HEAPD_TLS _Thread_local __attribute__((tls_model("initial-exec")))

// The calling thread's attached thread heap (NULL when the thread is not attached) and its id
// (0 when not attached). Written only by the thread itself, at attach and detach.
extern HEAPD_TLS void *heapd_tls_thread_heap;
extern HEAPD_TLS uint64_t heapd_tls_thread_heap_id;

static inline __attribute__((always_inline)) void *heapd_current_thread_heap(void) {
    return heapd_tls_thread_heap;
}
static inline __attribute__((always_inline)) uint64_t heapd_current_thread_heap_id(void) {
    return heapd_tls_thread_heap_id;
}
static inline __attribute__((always_inline)) void heapd_set_current_thread_heap(void *heap, uint64_t id) {
    heapd_tls_thread_heap = heap;
    heapd_tls_thread_heap_id = id;
}

// Thread exit: `hook(heap)` runs when a thread that registered `heap` exits without having
// unregistered it (a pthread key destructor; the thread-local slots above are still readable).
void heapd_register_thread_exit(void (*hook)(void *), void *heap);
void heapd_unregister_thread_exit(void);

// The calling thread's mutator (NULL when none) and its id (0 when none): the object layer's
// equivalent of the thread heap slots above. Written only by the thread itself.
extern HEAPD_TLS void *heapd_tls_mutator;
extern HEAPD_TLS uint32_t heapd_tls_mutator_id;

static inline __attribute__((always_inline)) void *heapd_current_mutator(void) {
    return heapd_tls_mutator;
}
static inline __attribute__((always_inline)) uint32_t heapd_current_mutator_id(void) {
    return heapd_tls_mutator_id;
}
static inline __attribute__((always_inline)) void heapd_set_current_mutator(void *mutator, uint32_t id) {
    heapd_tls_mutator = mutator;
    heapd_tls_mutator_id = id;
}

// The CPU the calling thread runs on now, or -1.
int heapd_current_cpu(void);

// Pins the calling thread to one CPU. Returns 0 or an errno value.
int heapd_pin_current_thread(int cpu);

// Number of CPUs the calling thread may run on (its affinity mask), or -1.
int heapd_allowed_cpu_count(void);

// Fixes glibc's mmap and trim thresholds at `bytes` (by default both grow with the largest block
// freed, and a long-running process keeps what it freed). Returns 0, or -1 if glibc refused.
int heapd_fix_malloc_thresholds(int bytes);

// The concurrent collector's view of memory mutators are writing (Collector/
// ConcurrentDetection.swift). These are races by design, as the Linux kernel's data_race(): the
// collector treats what it reads as a hint and validates it with the world stopped, so a torn or
// stale value costs a wrong guess, never a wrong free. They are built without ThreadSanitizer's
// instrumentation (a race TSan would report is the point of them); every other access in heapd
// stays instrumented. The memory must stay mapped: the caller guarantees it (no arena or large
// block is unmapped while a concurrent walk runs).
//
// Copies `words` 8-byte words from `source` (8-byte aligned) to `destination`: a memcpy (vector
// loads, a word may be torn, which the walk treats as any stale value), or under ThreadSanitizer,
// which intercepts memcpy, one volatile load a word.
void heapd_racy_copy_words(uint64_t *destination, const void *source, uint64_t words);

// Replaces the bits of `mask` in the byte at `address` with `value`'s, by a compare-and-swap
// loop, unless the byte has a bit of `unless` set. Returns whether it changed the byte.
int heapd_racy_update_byte(void *address, uint8_t mask, uint8_t value, uint8_t unless);

static inline __attribute__((always_inline)) void heapd_compiler_barrier(void) {
    __asm__ __volatile__("" ::: "memory");
}

// The spin-wait hint (x86 `pause`, Arm `yield`): tells the core that this is a busy-wait loop, so
// that it lets a sibling hyperthread run and, on x86, leaves the loop without a pipeline flush
// when the awaited store arrives. About 21 ns on the project's Zen 2 machines. For the
// stop-the-world handshake's bounded spins (Collector/Safepoints.swift).
static inline __attribute__((always_inline)) void heapd_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif
