package bench.kstreams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * Kafka Streams doing one benchmark case until SIGTERM.
 *
 * <p>The harness stops a system with SIGTERM; the JVM's shutdown hook closes the
 * streams client (commit, flush, close the stores). A client that fails on its own
 * exits with status 1, so the harness sees the process die.
 */
public final class BenchApp {

    private BenchApp() {
    }

    /** Every setting that differs from a bare Kafka Streams client, and the defaults
     *  the benchmark depends on, set explicitly. */
    static Properties config(Options options) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, options.group());
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrap());
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, options.guarantee());
        // One stream thread, as one slither worker runs one stage loop.
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // Kafka Streams' defaults (100 ms under exactly_once_v2, 30 s at_least_once).
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, options.commitIntervalMs());
        // No record cache: every aggregate update is forwarded (one output per input).
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        Path stateDir = Path.of(options.stateDir().isEmpty() ? "." : options.stateDir(),
                "kstreams");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG),
                "earliest");
        // The producer as slither's Kafka backend and the raw loop configure theirs.
        props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        props.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 1_000_000);
        for (String entry : options.config()) {
            int eq = entry.indexOf('=');
            String key = entry.substring(0, eq);
            String value = entry.substring(eq + 1);
            if (value.isEmpty()) {
                props.remove(key);  // key= : back to Kafka Streams' default
            } else {
                props.put(key, value);
            }
        }
        return props;
    }

    public static void main(String[] argv) throws InterruptedException {
        Options options;
        try {
            options = Options.parse(argv);
        } catch (IllegalArgumentException error) {
            System.err.println("kstreams: " + error.getMessage());
            System.exit(2);
            return;
        }
        Topology topology = Topologies.build(options);
        Properties props = config(options);
        System.out.println("kstreams: case " + options.caseName() + ", "
                + options.guarantee() + ", commit.interval.ms=" + options.commitIntervalMs()
                + (options.config().isEmpty() ? "" : ", config " + options.config()));
        System.out.println(topology.describe());
        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch done = new CountDownLatch(1);
        boolean[] stopping = {false};
        streams.setStateListener((now, before) -> {
            System.out.println("kstreams: state " + before + " -> " + now);
            if (now == KafkaStreams.State.ERROR) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(error -> {
            System.err.println("kstreams: stream thread failed: " + error);
            error.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping[0] = true;
            streams.close(Duration.ofSeconds(30));
            done.countDown();
        }, "bench-kstreams-shutdown"));
        streams.start();
        done.await();
        if (!stopping[0]) {
            streams.close(Duration.ofSeconds(30));
            System.exit(1);
        }
    }
}
