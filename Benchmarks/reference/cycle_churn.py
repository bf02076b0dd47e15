"""The work of workloads/cycle-churn.hw in Python, printing the same lines: two-object cycles made
and dropped on one thread, beside a small live ring. Nothing special is called during the churn:
Python's automatic (generational) collection frees the cycles, as heapd's does in the workload.
The final gc.collect() is the workload's too: it comes before the check of the watched cycles.

    usage: python3 cycle_churn.py [cycles] [ring] [samples]      (default 2000000, 64, 16)
"""

import gc
import sys
import weakref


class Node:
    __slots__ = ("next", "__weakref__")

    def __init__(self):
        self.next = None


def make_ring(count):
    head = Node()
    last = head
    for _ in range(count - 1):
        node = Node()
        last.next = node
        last = node
    last.next = head
    return head


def pair():
    a = Node()
    b = Node()
    a.next = b
    b.next = a
    return a


def churn(count):
    for _ in range(count):
        a = Node()
        b = Node()
        a.next = b
        b.next = a


def main(cycles, ring, samples):
    live = make_ring(ring)
    watched = [None] * samples
    block = cycles // samples
    for s in range(samples):
        watched[s] = weakref.ref(pair())
        churn(block - 1)
    churn(cycles - samples * block)
    gc.collect()

    freed = sum(1 for w in watched if w() is None)
    length = 1
    node = live.next
    while node is not live:
        length += 1
        node = node.next
    print("cycles:", cycles, "freed samples:", freed)
    print("live ring:", length)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    defaults = [2_000_000, 64, 16]
    main(*(args + defaults[len(args):]))
