"""Transactions with confluent-kafka (librdkafka) against the broker.

Runs, on one transactional producer: a committed transaction of --count
records "py-commit-<i>", an aborted one of "py-abort-<i>", another
committed one "py-commit2-<i>"; then a read_committed consumer reads the
topic from the start until it has seen --expect records (or 60 s pass) and
prints every value it read as a JSON list on stdout.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--expect", type=int, required=True)
    args = ap.parse_args()

    p = Producer({
        "bootstrap.servers": args.bootstrap,
        "transactional.id": "python-txn",
        "transaction.timeout.ms": 30000,
        "enable.idempotence": True,
        "linger.ms": 5,
    })
    p.init_transactions(30)
    for prefix, commit in (("py-commit", True), ("py-abort", False), ("py-commit2", True)):
        p.begin_transaction()
        for i in range(args.count):
            p.produce(args.topic, value=f"{prefix}-{i}".encode(), key=str(i).encode())
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "python-txn-reader",
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([args.topic])
    got = []
    deadline = time.time() + 60
    while len(got) < args.expect and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            print("consumer error:", m.error(), file=sys.stderr)
            continue
        got.append(m.value().decode())
    # Anything more (an aborted record would be) shows up in a short grace period.
    end = time.time() + 1.0
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    json.dump(got, sys.stdout)


if __name__ == "__main__":
    main()
