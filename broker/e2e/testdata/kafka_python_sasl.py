"""Produce and consume with kafka-python over SASL_SSL with SCRAM.

Usage: kafka_python_sasl.py BOOTSTRAP TOPIC MECHANISM USER PASSWORD CAFILE COUNT
Prints "ok N" after reading back the N records it wrote.
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, mech, user, password, cafile, count = sys.argv[1:8]
count = int(count)
common = dict(
    bootstrap_servers=bootstrap,
    security_protocol="SASL_SSL",
    sasl_mechanism=mech,
    sasl_plain_username=user,
    sasl_plain_password=password,
    ssl_cafile=cafile,
    ssl_check_hostname=False,
    api_version=(2, 4, 0),
)
producer = KafkaProducer(acks="all", **common)
for i in range(count):
    producer.send(topic, key=b"k%d" % i, value=b"python-%s-%d" % (mech.encode(), i), partition=0)
producer.flush(30)
producer.close()

consumer = KafkaConsumer(consumer_timeout_ms=20000, **common)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
seen = []
for msg in consumer:
    if msg.value.startswith(b"python-%s-" % mech.encode()):
        seen.append(msg.value)
    if len(seen) >= count:
        break
consumer.close()
if len(seen) != count:
    print("read %d of %d records" % (len(seen), count))
    sys.exit(1)
print("ok %d" % len(seen))
