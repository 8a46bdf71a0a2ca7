#!/usr/bin/env python3
"""Prints, as JSON, what the Python admin tools see of one consumer group.

--lib confluent:    AdminClient.list_groups (librdkafka ListGroups + DescribeGroups)
--lib kafka-python: KafkaAdminClient list/describe consumer groups and
                    list_consumer_group_offsets, with lag against the end
                    offsets from a KafkaConsumer.
Output: {"groups": [...], "state": str, "members": int, "lag": int,
         "committed": {"topic/partition": offset}}
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, choices=["confluent", "kafka-python"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    args = ap.parse_args()
    if args.lib == "confluent":
        out = confluent(args)
    else:
        out = kafka_python(args)
    print(json.dumps(out, sort_keys=True))


def confluent(args):
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    groups = admin.list_groups(timeout=30)
    out = {"groups": sorted(g.id for g in groups), "state": "", "members": 0}
    for g in groups:
        if g.id == args.group:
            out["state"], out["members"] = g.state, len(g.members)
    # Lag: committed offsets of the group against the high watermarks.
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group, "enable.auto.commit": False})
    md = c.list_topics(timeout=30)
    parts = [TopicPartition(t, p) for t, tm in md.topics.items() if not t.startswith("__") for p in tm.partitions]
    committed = {}
    lag = 0
    for tp in c.committed(parts, timeout=30):
        if tp.offset < 0:
            continue
        low, high = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=30)
        committed["%s/%d" % (tp.topic, tp.partition)] = tp.offset
        lag += high - tp.offset
    c.close()
    out["committed"], out["lag"] = committed, lag
    return out


def kafka_python(args):
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    groups = admin.list_consumer_groups()
    out = {"groups": sorted(g[0] for g in groups), "state": "", "members": 0}
    for d in admin.describe_consumer_groups([args.group]):
        out["state"], out["members"] = d.state, len(d.members)
    offsets = admin.list_consumer_group_offsets(args.group)
    c = KafkaConsumer(bootstrap_servers=args.bootstrap)
    ends = c.end_offsets(list(offsets.keys())) if offsets else {}
    committed = {}
    lag = 0
    for tp, om in offsets.items():
        committed["%s/%d" % (tp.topic, tp.partition)] = om.offset
        lag += ends[tp] - om.offset
    c.close()
    admin.close()
    out["committed"], out["lag"] = committed, lag
    return out


if __name__ == "__main__":
    main()
