// kafkajs against a running Floe: create a topic, produce keyed records with headers
// (gzip, idempotent), consume them in a group, and print what happened as JSON for
// test_kafkajs.py to check. Usage: node roundtrip.js HOST:PORT TOPIC COUNT
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic, countText] = process.argv.slice(2);
  const count = Number(countText);
  const kafka = new Kafka({ clientId: 'floe-e2e-kafkajs', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const acked = [];
  for (let i = 0; i < count; i += 10) {
    const messages = [];
    for (let j = i; j < Math.min(i + 10, count); j++) {
      messages.push({ key: `key-${j % 5}`, value: `value-${j}`, headers: { index: `${j}` } });
    }
    const result = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    acked.push(...result.map((r) => ({ partition: r.partition, baseOffset: Number(r.baseOffset) })));
  }
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-readers', maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} records`)), 60000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push({
          partition,
          offset: Number(message.offset),
          key: message.key.toString(),
          value: message.value.toString(),
          index: message.headers.index.toString(),
        });
        if (received.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  process.stdout.write(JSON.stringify({ acked, received }));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
