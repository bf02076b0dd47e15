// rc_pair.c: what this machine allows for issue 3's "owner retain+release, biased against atomic"
// figure, without Swift in the way. The same loops as the ObjectBenchmarks pair, in C: a biased
// pair (owner test, then a plain increment; owner test, plain decrement, zero test), the same on
// one 64-bit {owner, local} word, and an atomic pair (lock add, lock xadd with the zero test).
//
//   gcc -O2 Benchmarks/reference/rc_pair.c -o /tmp/rc_pair && /tmp/rc_pair
//
// Prints ns per pair and atomic / biased, three times.
#include <stdint.h>
#include <stdio.h>
#include <time.h>

typedef struct { volatile uint32_t owner; volatile uint32_t local; volatile int64_t shared; } header;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

__attribute__((noinline)) static void other(header *h) { __atomic_fetch_add(&h->shared, 4, __ATOMIC_RELAXED); }

__attribute__((noinline)) static int biased(header *h, uint32_t id, long n) {
    int dead = 0;
    for (long i = 0; i < n; i++) {
        if (__builtin_expect(h->owner == id, 1)) h->local = h->local + 1; else other(h);
        if (__builtin_expect(h->owner == id, 1)) { uint32_t l = h->local; h->local = l - 1; if (l == 1) dead++; } else other(h);
    }
    return dead;
}

__attribute__((noinline)) static int biased64(header *h, uint32_t id, long n) {
    int dead = 0;
    volatile uint64_t *word = (volatile uint64_t *)h;
    for (long i = 0; i < n; i++) {
        uint64_t w = *word;
        if (__builtin_expect((uint32_t)w == id, 1)) *word = w + (1ull << 32); else other(h);
        w = *word;
        if (__builtin_expect((uint32_t)w == id, 1)) { *word = w - (1ull << 32); if ((w >> 32) == 1) dead++; } else other(h);
    }
    return dead;
}

__attribute__((noinline)) static int atomic(header *h, long n) {
    int dead = 0;
    for (long i = 0; i < n; i++) {
        __atomic_fetch_add(&h->shared, 1, __ATOMIC_RELAXED);
        if (__atomic_fetch_sub(&h->shared, 1, __ATOMIC_ACQ_REL) == 1) dead++;
    }
    return dead;
}

int main(void) {
    header h = { 7, 1, 1 };
    long n = 100000000;
    int dead = 0;   // used, so that the zero tests stay in the loops
    for (int round = 0; round < 3; round++) {
        double t0 = now(); dead += biased(&h, 7, n);
        double t1 = now(); dead += biased64(&h, 7, n);
        double t2 = now(); dead += atomic(&h, n);
        double t3 = now();
        printf("biased %.3f ns  biased64 %.3f ns  atomic %.3f ns  atomic/biased %.2f  atomic/biased64 %.2f\n",
               (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n, (t3 - t2) / (t1 - t0), (t3 - t2) / (t2 - t1));
    }
    return dead == 0 ? 0 : 1;
}
