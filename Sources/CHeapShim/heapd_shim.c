#define _GNU_SOURCE
#include <sched.h>
#include <pthread.h>
#include <errno.h>
#include "heapd_shim.h"

_Thread_local void *heapd_tls_thread_heap = 0;
_Thread_local uint64_t heapd_tls_thread_heap_id = 0;

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
