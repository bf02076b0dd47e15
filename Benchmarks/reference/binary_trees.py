"""binary-trees by the Benchmarks Game rules, in Python, one thread: the side-by-side reference for
workloads/binary-trees.hw. Nodes are objects of a class with __slots__ (the workload declares its
shape up front too). It prints what the workload's `print` lines print: items separated by one
space, where the Benchmarks Game's own output has tabs.

    usage: python3 binary_trees.py [depth]      (default 18)
"""

import sys


class Node:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


def make(depth):
    if depth > 0:
        return Node(make(depth - 1), make(depth - 1))
    return Node(None, None)


def check(node):
    if node.left is None:
        return 1
    return 1 + check(node.left) + check(node.right)


def main(depth):
    print("stretch tree of depth", depth + 1, "check:", check(make(depth + 1)))
    long_lived = make(depth)
    for d in range(4, depth + 1, 2):
        iterations = 1 << (depth - d + 4)
        total = 0
        for _ in range(iterations):
            total += check(make(d))
        print(iterations, "trees of depth", d, "check:", total)
    print("long lived tree of depth", depth, "check:", check(long_lived))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 18)
