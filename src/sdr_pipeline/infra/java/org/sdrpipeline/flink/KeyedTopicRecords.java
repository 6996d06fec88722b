package org.sdrpipeline.flink;

import java.nio.charset.StandardCharsets;

import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The routing job's (topic, key, value) rows as Kafka records: each to its own topic, keyed.
 *
 * PyFlink's record serializers can set a topic per record but serialize the whole element as the key,
 * so a key taken from one field needs this one class. Keeping the lead id as the key keeps one lead's
 * decisions, events and dead letters on one partition, in order. An empty key is written as none.
 */
public final class KeyedTopicRecords implements KafkaRecordSerializationSchema<Tuple3<String, String, String>> {

    private static final long serialVersionUID = 1L;

    @Override
    public ProducerRecord<byte[], byte[]> serialize(
            Tuple3<String, String, String> row, KafkaSinkContext context, Long timestamp) {
        byte[] key = row.f1 == null || row.f1.isEmpty() ? null : row.f1.getBytes(StandardCharsets.UTF_8);
        byte[] value = row.f2 == null ? null : row.f2.getBytes(StandardCharsets.UTF_8);
        return new ProducerRecord<>(row.f0, null, timestamp, key, value);
    }
}
