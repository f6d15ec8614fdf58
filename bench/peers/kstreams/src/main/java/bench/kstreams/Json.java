package bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** JSON values through Jackson's tree model (what a Kafka Streams user writes first). */
final class Json {

    static final ObjectMapper MAPPER = new ObjectMapper();

    /** Any JSON value as a {@link JsonNode}. */
    static final Serde<JsonNode> NODE = serde(JsonNode.class);

    /** The aggregate case's running total. */
    static final Serde<Total> TOTAL = serde(Total.class);

    private Json() {
    }

    static <T> Serde<T> serde(Class<T> type) {
        Serializer<T> serializer = (topic, value) -> {
            if (value == null) {
                return null;
            }
            try {
                return MAPPER.writeValueAsBytes(value);
            } catch (IOException error) {
                throw new SerializationException("cannot encode " + type.getSimpleName(), error);
            }
        };
        Deserializer<T> deserializer = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return MAPPER.readValue(bytes, type);
            } catch (IOException error) {
                throw new SerializationException("cannot decode " + type.getSimpleName()
                        + " from " + topic, error);
            }
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }

    /** A running count and sum of one key's {@code amount}s: {"count": c, "sum": s}. */
    record Total(long count, long sum) {
        static final Total EMPTY = new Total(0, 0);

        Total add(long amount) {
            return new Total(count + 1, sum + amount);
        }
    }
}
