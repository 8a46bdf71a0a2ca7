// Produce to and consume from a Kafka broker with kafkajs.
//
// Usage: node roundtrip.js <broker> <topic> <count> <prefix> <none|gzip> <group>
//
// Produces <count> records (key "js-<i>", value "<prefix>-<i>") with an idempotent producer
// (acks=all), then consumes the topic from the beginning in consumer group <group> until
// it has seen every partition's end offset, printing one JSON object per record to
// stdout: {"p": partition, "o": offset, "k": key, "v": value}. Exits non-zero on error.
'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

async function main () {
  const [broker, topic, countArg, prefix, compression, group] = process.argv.slice(2)
  if (!group) throw new Error('usage: node roundtrip.js <broker> <topic> <count> <prefix> <none|gzip> <group>')
  const count = parseInt(countArg, 10)
  const kafka = new Kafka({ clientId: 'freshmart-e2e', brokers: [broker], logLevel: logLevel.WARN })

  if (count > 0) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const messages = []
    for (let i = 0; i < count; i++) messages.push({ key: `js-${i}`, value: `${prefix}-${i}` })
    const results = await producer.send({
      topic,
      acks: -1,
      compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      messages
    })
    for (const r of results) console.error(`produced partition=${r.partition} baseOffset=${r.baseOffset} error=${r.errorCode}`)
    await producer.disconnect()
  }

  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const remaining = new Map()
  for (const o of offsets) {
    if (Number(o.high) > Number(o.low)) remaining.set(o.partition, Number(o.high))
  }

  const consumer = kafka.consumer({ groupId: group })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let finish
  const done = new Promise(resolve => { finish = resolve })
  if (remaining.size === 0) finish()
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const offset = Number(message.offset)
      console.log(JSON.stringify({ p: partition, o: offset, k: message.key && message.key.toString(), v: message.value.toString() }))
      const end = remaining.get(partition)
      if (end !== undefined && offset >= end - 1) {
        remaining.delete(partition)
        if (remaining.size === 0) finish()
      }
    }
  })
  const timer = setTimeout(() => {
    console.error(`timed out; partitions not read to the end: ${JSON.stringify([...remaining])}`)
    process.exit(2)
  }, 60000)
  await done
  clearTimeout(timer)
  await consumer.disconnect()
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
