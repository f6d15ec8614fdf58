package bench.kstreams;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The command line every benchmark system accepts (bench/cases/args.py), plus this
 * peer's own {@code --guarantee} and {@code --commit-interval-ms}. The Python
 * launcher has checked the shared arguments already; a bad value here still exits
 * with a message naming it. {@code --config key=value} (repeatable) sets or overrides
 * one Kafka Streams property, for tuning studies.
 */
record Options(String caseName, String bootstrap, String input, List<String> outputs,
               String group, String stateDir, int partitions, String guarantee,
               long commitIntervalMs, List<String> config) {

    static final List<String> CASES = List.of("passthrough", "router", "aggregate");
    static final List<String> GUARANTEES = List.of("at_least_once", "exactly_once_v2");

    /** Kafka Streams' own commit.interval.ms defaults, set explicitly. */
    static long defaultCommitInterval(String guarantee) {
        return guarantee.equals("exactly_once_v2") ? 100L : 30_000L;
    }

    static Options parse(String[] argv) {
        Map<String, String> values = new HashMap<>();
        List<String> config = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            String flag = argv[i];
            if (!flag.startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --flag value, got "
                        + Arrays.toString(Arrays.copyOfRange(argv, i, argv.length)));
            }
            String value = argv[++i];
            if (flag.equals("--config")) {
                if (value.indexOf('=') < 1) {
                    throw new IllegalArgumentException("--config: key=value, not " + value);
                }
                config.add(value);
            } else {
                values.put(flag.substring(2), value);
            }
        }
        String caseName = required(values, "case");
        if (!CASES.contains(caseName)) {
            throw new IllegalArgumentException("--case: Kafka Streams does " + CASES
                    + ", not " + caseName);
        }
        String guarantee = values.getOrDefault("guarantee", "at_least_once");
        if (!GUARANTEES.contains(guarantee)) {
            throw new IllegalArgumentException("--guarantee: one of " + GUARANTEES
                    + ", not " + guarantee);
        }
        List<String> outputs = Arrays.stream(required(values, "outputs").split(","))
                .filter(s -> !s.isEmpty()).toList();
        int wanted = caseName.equals("router") ? 3 : 1;
        if (outputs.size() != wanted) {
            throw new IllegalArgumentException("--outputs: case " + caseName + " needs "
                    + wanted + " topic(s), got " + outputs);
        }
        String interval = values.get("commit-interval-ms");
        long commitIntervalMs = interval == null ? defaultCommitInterval(guarantee)
                : Long.parseLong(interval);
        return new Options(caseName, required(values, "bootstrap"), required(values, "input"),
                outputs, required(values, "group"), values.getOrDefault("state-dir", ""),
                Integer.parseInt(values.getOrDefault("partitions", "4")), guarantee,
                commitIntervalMs, List.copyOf(config));
    }

    private static String required(Map<String, String> values, String name) {
        String value = values.get(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }
}
