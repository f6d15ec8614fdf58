package bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * One topology per case, written as the Kafka Streams docs write them. Keys stay raw
 * bytes (the harness's keys); values are JSON (bench/cases/work.py's records).
 *
 * <ul>
 *   <li>passthrough: mapValues(enrich), enrich = add {@code "seen": 1} (work.enrich);
 *   <li>router: to(TopicNameExtractor), record {@code n} to output a/b/c by n % 3
 *       (work.route_of), value re-encoded as decoded;
 *   <li>aggregate: groupByKey().aggregate(count and sum of {@code amount}) into the
 *       RocksDB store {@code aggregate} with its changelog topic, toStream() to the
 *       output. With statestore.cache.max.bytes=0 every update goes downstream: one
 *       output per input record.
 * </ul>
 */
final class Topologies {

    /** The aggregate case's state store (its changelog: {@code <app-id>-aggregate-changelog}). */
    static final String STORE = "aggregate";

    private Topologies() {
    }

    static Topology build(Options options) {
        StreamsBuilder builder = new StreamsBuilder();
        KStream<byte[], JsonNode> input = builder.stream(options.input(),
                Consumed.with(Serdes.ByteArray(), Json.NODE));
        List<String> outputs = options.outputs();
        switch (options.caseName()) {
            case "passthrough" -> input.mapValues(Topologies::enrich)
                    .to(outputs.get(0), Produced.with(Serdes.ByteArray(), Json.NODE));
            case "router" -> input.to(
                    (key, value, context) -> outputs.get((int) (value.get("n").asLong() % 3)),
                    Produced.with(Serdes.ByteArray(), Json.NODE));
            case "aggregate" -> input
                    .groupByKey(Grouped.with(Serdes.ByteArray(), Json.NODE))
                    .aggregate(() -> Json.Total.EMPTY,
                            (key, value, total) -> total.add(value.get("amount").asLong()),
                            Materialized.<byte[], Json.Total, KeyValueStore<Bytes, byte[]>>as(STORE)
                                    .withKeySerde(Serdes.ByteArray())
                                    .withValueSerde(Json.TOTAL))
                    .toStream()
                    .to(outputs.get(0), Produced.with(Serdes.ByteArray(), Json.TOTAL));
            default -> throw new IllegalArgumentException("unknown case " + options.caseName());
        }
        return builder.build();
    }

    static JsonNode enrich(JsonNode value) {
        ((ObjectNode) value).put("seen", 1);
        return value;
    }
}
