#!/usr/bin/env python3
"""A consumer-group member for the broker's client tests.

Polls --topic as a member of --group with one of two client libraries
(--lib confluent: confluent-kafka / librdkafka; --lib kafka-python), and
for every polled batch: commits the batch's offsets synchronously, then
appends the batch's record values to --out (one per line) and flushes.
--out is thus the ledger of committed records: a batch whose commit fails
is not written (it is delivered again).

Control files next to --out:
  <out>.ready   written once the member has been assigned partitions
  <out>.pause   when it appears, the member stops after its current batch
                and writes <out>.paused, then sleeps (the test kills it
                with SIGKILL, so it never leaves the group)
SIGTERM closes the consumer cleanly (it leaves the group) and exits 0.
"""
import argparse
import os
import signal
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def touch(path):
    with open(path, "w") as f:
        f.write("1\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, choices=["confluent", "kafka-python"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--session-ms", type=int, default=3000)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    out = open(args.out, "a")
    pause, paused, ready = args.out + ".pause", args.out + ".paused", args.out + ".ready"
    if args.lib == "confluent":
        run_confluent(args, out, pause, paused, ready)
    else:
        run_kafka_python(args, out, pause, paused, ready)
    out.close()


def record(out, values):
    for v in values:
        out.write(v + "\n")
    out.flush()
    os.fsync(out.fileno())


def hold():
    # Paused: wait to be killed. SIGTERM still exits.
    while not stop:
        time.sleep(0.05)


def run_confluent(args, out, pause, paused, ready):
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": args.session_ms,
        "heartbeat.interval.ms": max(100, args.session_ms // 6),
        "topic.metadata.refresh.interval.ms": 1000,
    })

    def on_assign(consumer, parts):
        if parts:
            touch(ready)

    def on_revoke(consumer, parts):
        # Everything handed to the application was committed already.
        pass

    c.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop:
        if os.path.exists(pause):
            touch(paused)
            hold()
            break
        msgs = c.consume(num_messages=100, timeout=0.2)
        good = []
        offsets = {}
        for m in msgs:
            if m.error():
                continue
            good.append(m.value().decode())
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        if not good:
            continue
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            c.commit(offsets=tps, asynchronous=False)
        except KafkaException as e:
            # Not committed: the records come again (here or elsewhere).
            sys.stderr.write("commit failed: %s\n" % e)
            continue
        record(out, good)
    c.close()


def run_kafka_python(args, out, pause, paused, ready):
    from kafka import KafkaConsumer, OffsetAndMetadata, ConsumerRebalanceListener
    from kafka.errors import CommitFailedError

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            if assigned:
                touch(ready)

    c = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=args.session_ms,
        heartbeat_interval_ms=max(100, args.session_ms // 6),
        metadata_max_age_ms=1000,
    )
    c.subscribe([args.topic], listener=Listener())
    while not stop:
        if os.path.exists(pause):
            touch(paused)
            hold()
            break
        batches = c.poll(timeout_ms=200)
        good = []
        offsets = {}
        for tp, msgs in batches.items():
            for m in msgs:
                good.append(m.value.decode())
                offsets[tp] = OffsetAndMetadata(m.offset + 1, "")
        if not good:
            continue
        try:
            c.commit(offsets=offsets)
        except CommitFailedError as e:
            sys.stderr.write("commit failed: %s\n" % e)
            continue
        record(out, good)
    c.close()


if __name__ == "__main__":
    main()
