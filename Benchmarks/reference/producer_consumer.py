"""The work of workloads/producer-consumer.hw in Python, printing the same line: one producer
thread allocates objects of 64 bytes of fields and puts them one by one on a bounded queue.Queue;
one consumer thread takes and drops them, so every object is freed on the thread that did not
allocate it. The main thread starts both, joins the producer, closes the queue (Python 3.11's
Queue cannot be closed, so a None stands for the close) and joins the consumer.

    usage: python3 producer_consumer.py [objects] [capacity]      (default 1000000, 1024)
"""

import queue
import sys
import threading


class Block:
    """64 bytes of fields, as the workload's `type Block { payload 64 }`."""

    __slots__ = ("w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7")


def produce(channel, count, result):
    for _ in range(count):
        channel.put(Block())
    result.append(count)


def consume(channel, result):
    received = 0
    block = channel.get()
    while block is not None:
        # No check that the receiver holds the block alone (the workload's and the Swift version's
        # refcount check): CPython's put() can hand the block over before the producer's frame has
        # dropped its own references to it.
        received += 1
        del block
        block = channel.get()
    result.append(received)


def main(objects, capacity):
    channel = queue.Queue(maxsize=capacity)
    sent, received = [], []
    consumer = threading.Thread(target=consume, args=(channel, received))
    producer = threading.Thread(target=produce, args=(channel, objects, sent))
    consumer.start()
    producer.start()
    producer.join()
    channel.put(None)
    consumer.join()
    print("sent", sent[0], "received", received[0])
    assert sent[0] == objects and received[0] == sent[0], "every block sent was received"


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    defaults = [1_000_000, 1024]
    main(*(args + defaults[len(args):]))
