"""Produce to and consume from a Kafka broker with kafka-python (2.0).

Produces --count records (key "py-<i>", value "<prefix>-<i>") with acks=all and the given
compression, each send confirmed, then reads every partition of the topic from the
beginning to its end offset without a consumer group and prints one JSON object per
record to stdout: {"p": partition, "o": offset, "k": key, "v": value}. Produced offsets are
printed to stderr. Exits non-zero on any error.
"""
import argparse
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--prefix", default="python")
    ap.add_argument("--compression", default=None, help="gzip or none")
    args = ap.parse_args()
    compression = None if args.compression in (None, "", "none") else args.compression

    if args.count > 0:
        producer = KafkaProducer(
            bootstrap_servers=args.bootstrap,
            acks="all",
            compression_type=compression,
            retries=3,
            request_timeout_ms=30000,
        )
        futures = []
        for i in range(args.count):
            futures.append(producer.send(
                args.topic,
                key=("py-%d" % i).encode(),
                value=("%s-%d" % (args.prefix, i)).encode(),
            ))
        producer.flush(timeout=60)
        for f in futures:
            md = f.get(timeout=60)
            print("produced partition=%d offset=%d" % (md.partition, md.offset), file=sys.stderr)
        producer.close(timeout=30)

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    deadline = time.time() + 60
    partitions = None
    while partitions is None:
        partitions = consumer.partitions_for_topic(args.topic)
        if partitions is None:
            if time.time() > deadline:
                raise SystemExit("topic %s not found" % args.topic)
            time.sleep(0.1)
    tps = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    remaining = {tp: end for tp, end in ends.items() if end > consumer.position(tp)}
    while remaining:
        if time.time() > deadline:
            raise SystemExit("timed out; partitions not read to the end: %r" % remaining)
        batches = consumer.poll(timeout_ms=1000)
        for tp, records in batches.items():
            for r in records:
                print(json.dumps({
                    "p": r.partition,
                    "o": r.offset,
                    "k": r.key.decode() if r.key is not None else None,
                    "v": r.value.decode(),
                }))
                if tp in remaining and r.offset >= remaining[tp] - 1:
                    del remaining[tp]
    consumer.close()


if __name__ == "__main__":
    main()
