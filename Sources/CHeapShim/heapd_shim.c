#define _GNU_SOURCE
#include <sched.h>
#include <pthread.h>
#include <errno.h>
#include <string.h>
#include "heapd_shim.h"

HEAPD_TLS void *heapd_tls_thread_heap = 0;
HEAPD_TLS uint64_t heapd_tls_thread_heap_id = 0;
HEAPD_TLS void *heapd_tls_mutator = 0;
HEAPD_TLS uint32_t heapd_tls_mutator_id = 0;

static pthread_key_t heapd_exit_key;
static pthread_once_t heapd_exit_once = PTHREAD_ONCE_INIT;
static void (*_Atomic heapd_exit_hook)(void *) = 0;

static void heapd_exit_destructor(void *heap) {
    void (*hook)(void *) = heapd_exit_hook;
    if (heap && hook) hook(heap);
}

static void heapd_make_exit_key(void) {
    pthread_key_create(&heapd_exit_key, heapd_exit_destructor);
}

void heapd_register_thread_exit(void (*hook)(void *), void *heap) {
    pthread_once(&heapd_exit_once, heapd_make_exit_key);
    heapd_exit_hook = hook;
    pthread_setspecific(heapd_exit_key, heap);
}

void heapd_unregister_thread_exit(void) {
    pthread_once(&heapd_exit_once, heapd_make_exit_key);
    pthread_setspecific(heapd_exit_key, 0);
}

int heapd_current_cpu(void) {
    return sched_getcpu();
}

int heapd_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int heapd_allowed_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

// The concurrent collector's racy accesses (heapd_shim.h says why they are races by design).
#if defined(__has_attribute) && __has_attribute(disable_sanitizer_instrumentation)
#define HEAPD_RACY __attribute__((disable_sanitizer_instrumentation, noinline))
#else
#define HEAPD_RACY __attribute__((no_sanitize("thread"), noinline))
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HEAPD_TSAN 1
#endif
#endif

HEAPD_RACY void heapd_racy_copy_words(uint64_t *destination, const void *source, uint64_t words) {
#ifdef HEAPD_TSAN
    // ThreadSanitizer intercepts memcpy: one volatile load a word instead.
    const volatile uint64_t *from = (const volatile uint64_t *)source;
    for (uint64_t i = 0; i < words; i++) destination[i] = from[i];
#else
    memcpy(destination, source, words * sizeof(uint64_t));
#endif
}

HEAPD_RACY int heapd_racy_update_byte(void *address, uint8_t mask, uint8_t value, uint8_t unless) {
    uint8_t *byte = (uint8_t *)address;
    uint8_t old = __atomic_load_n(byte, __ATOMIC_RELAXED);
    for (;;) {
        if (old & unless) return 0;
        uint8_t updated = (uint8_t)((old & ~mask) | (value & mask));
        if (updated == old) return 0;
        if (__atomic_compare_exchange_n(byte, &old, updated, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return 1;
    }
}

#include <malloc.h>

int heapd_fix_malloc_thresholds(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes) == 1 && mallopt(M_TRIM_THRESHOLD, bytes) == 1 ? 0 : -1;
}
