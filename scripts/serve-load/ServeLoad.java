/*
 * A bounded load test of `t2r serve` on loopback: N concurrent clients stream completions for a fixed number of
 * rounds, then it prints tokens/s, time to first token and the latency between streamed tokens (p50, p99), what was
 * lost (any request without a 200, its usage and [DONE]) and, with --pid, the server's resident memory after each
 * round. A single-file program (JDK only): java scripts/serve-load/ServeLoad.java --url http://127.0.0.1:8000/ ...
 * scripts/serve-load.sh starts a server and runs it. It only ever talks to the URL given, and stops by itself.
 */

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public class ServeLoad {
    static final Pattern USAGE = Pattern.compile("\"completion_tokens\":(\\d+)");
    static final Pattern TEXT = Pattern.compile("\"text\":\"((?:[^\"\\\\]|\\\\.)*)\"");
    static final String[] VERSES = {
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void; and darkness was upon the face of the deep.",
        "And the Spirit of God moved upon the face of the waters.",
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good: and God divided the light from the darkness.",
        "And God called the light Day, and the darkness he called Night.",
        "And the evening and the morning were the first day."};

    /** What one streamed request measured. */
    record Result(boolean ok, String problem, long startNanos, long firstNanos, long endNanos, int tokens, List<Long> gaps) {}

    public static void main(String[] args) throws Exception {
        String url = arg(args, "--url", "http://127.0.0.1:8000/");
        int clients = Integer.parseInt(arg(args, "--clients", "16"));
        int rounds = Integer.parseInt(arg(args, "--rounds", "4"));
        int perRound = Integer.parseInt(arg(args, "--requests", "4"));
        int maxTokens = Integer.parseInt(arg(args, "--max-tokens", "64"));
        String model = arg(args, "--model", null);
        String pid = arg(args, "--pid", null);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(arg(args, "--timeout", "600")));

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        URI endpoint = URI.create(url).resolve("v1/completions");
        System.out.printf(Locale.ROOT, "load: %s, %d clients x %d requests x %d rounds, max_tokens %d, streamed, temperature 0.8%n",
                endpoint, clients, perRound, rounds, maxTokens);
        System.out.println("| round | requests | lost | tokens | wall s | tokens/s | TTFT p50 ms | TTFT p99 ms | token p50 ms | token p99 ms | server RSS MiB | live heap MiB |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        List<Result> all = new ArrayList<>();
        long allStart = System.nanoTime();
        for (int round = 1; round <= rounds && System.nanoTime() < deadline; round++) {
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            List<Future<List<Result>>> futures = new ArrayList<>();
            long start = System.nanoTime();
            for (int c = 0; c < clients; c++) {
                int client = c, r0 = round;
                futures.add(pool.submit(() -> {
                    List<Result> out = new ArrayList<>();
                    for (int i = 0; i < perRound && System.nanoTime() < deadline; i++) {
                        out.add(request(http, endpoint, model, prompt(client, i), maxTokens, 1000L * r0 + 97L * client + i));
                    }
                    return out;
                }));
            }
            List<Result> results = new ArrayList<>();
            for (Future<List<Result>> f : futures) results.addAll(f.get());
            pool.shutdown();
            long wall = System.nanoTime() - start;
            all.addAll(results);
            row(String.valueOf(round), results, wall, rss(pid) + " | " + liveHeap(pid));
        }
        row("all", all, System.nanoTime() - allStart, rss(pid) + " | " + liveHeap(pid));
        long lost = all.stream().filter(r -> !r.ok()).count();
        all.stream().filter(r -> !r.ok()).limit(5).forEach(r -> System.out.println("lost: " + r.problem()));
        HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(url).resolve("health")).build(),
                HttpResponse.BodyHandlers.ofString());
        System.out.println("health after: " + health.body());
        System.exit(lost == 0 ? 0 : 1);
    }

    /** A verse or a run of verses; every fourth request starts with the same long preamble (the prefix cache's case). */
    static String prompt(int client, int i) {
        StringBuilder p = new StringBuilder();
        if ((client + i) % 4 == 0) p.append(String.join(" ", VERSES)).append(' ');
        int n = 1 + (client * 7 + i) % 3;
        for (int k = 0; k < n; k++) p.append(k == 0 ? "" : " ").append(VERSES[(client + i + k) % VERSES.length]);
        return p.toString();
    }

    static Result request(HttpClient http, URI endpoint, String model, String prompt, int maxTokens, long seed) {
        long start = System.nanoTime();
        String body = "{" + (model == null ? "" : "\"model\":\"" + model + "\",") + "\"prompt\":\"" + prompt
                + "\",\"max_tokens\":" + maxTokens + ",\"temperature\":0.8,\"seed\":" + seed
                + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(endpoint).timeout(Duration.ofMinutes(5))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                return new Result(false, "status " + r.statusCode() + ": " + String.join(" ", r.body().toList()), start, 0, 0, 0, List.of());
            }
            long first = 0, last = 0;
            int tokens = -1;
            boolean done = false;
            List<Long> gaps = new ArrayList<>();
            for (String line : (Iterable<String>) r.body()::iterator) {
                if (!line.startsWith("data: ")) continue;
                String data = line.substring(6);
                long now = System.nanoTime();
                if (data.equals("[DONE]")) {
                    done = true;
                } else if (data.contains("\"error\"")) {
                    return new Result(false, data, start, 0, 0, 0, List.of());
                } else if (data.contains("\"usage\":{")) {
                    Matcher m = USAGE.matcher(data);
                    if (m.find()) tokens = Integer.parseInt(m.group(1));
                } else {
                    Matcher t = TEXT.matcher(data);
                    if (t.find() && !t.group(1).isEmpty()) {
                        if (first == 0) first = now;
                        else gaps.add(now - last);
                        last = now;
                    }
                }
            }
            boolean ok = done && tokens >= 0;
            return new Result(ok, ok ? "" : "no usage or [DONE]", start, first, System.nanoTime(), Math.max(tokens, 0), gaps);
        } catch (Exception e) {
            return new Result(false, e.toString(), start, 0, 0, 0, List.of());
        }
    }

    static void row(String name, List<Result> results, long wallNanos, String rss) {
        long lost = results.stream().filter(r -> !r.ok()).count();
        long tokens = results.stream().mapToLong(Result::tokens).sum();
        List<Long> ttft = new ArrayList<>(), gaps = new ArrayList<>();
        for (Result r : results) {
            if (r.ok() && r.firstNanos() > 0) ttft.add(r.firstNanos() - r.startNanos());
            gaps.addAll(r.gaps());
        }
        double wall = wallNanos / 1e9;
        System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %.1f | %.0f | %.0f | %.0f | %.1f | %.1f | %s |%n", name, results.size(),
                lost, tokens, wall, tokens / wall, ms(ttft, 0.5), ms(ttft, 0.99), ms(gaps, 0.5), ms(gaps, 0.99), rss);
    }

    static double ms(List<Long> nanos, double q) {
        if (nanos.isEmpty()) return 0;
        List<Long> s = new ArrayList<>(nanos);
        Collections.sort(s);
        return s.get((int) Math.min(s.size() - 1, Math.floor(q * s.size()))) / 1e6;
    }

    /** The resident memory of process {@code pid} in MiB (Linux), or "-". */
    static String rss(String pid) {
        if (pid == null) return "-";
        try {
            for (String l : Files.readAllLines(Path.of("/proc", pid, "status"))) {
                if (l.startsWith("VmRSS:")) return String.valueOf(Long.parseLong(l.replaceAll("\\D", "")) / 1024);
            }
        } catch (Exception e) {
            return "-";
        }
        return "-";
    }

    /**
     * The server's heap in use right after a full collection, in MiB (what it really holds between rounds), through
     * the JDK's jcmd; "-" without --pid or jcmd.
     */
    static String liveHeap(String pid) {
        if (pid == null) return "-";
        try {
            String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
            new ProcessBuilder(jcmd, pid, "GC.run").redirectErrorStream(true).start().getInputStream().readAllBytes();
            Process p = new ProcessBuilder(jcmd, pid, "GC.heap_info").redirectErrorStream(true).start();
            String info = new String(p.getInputStream().readAllBytes());
            Matcher m = Pattern.compile("used (\\d+)K").matcher(info);
            return m.find() ? String.valueOf(Long.parseLong(m.group(1)) / 1024) : "-";
        } catch (Exception e) {
            return "-";
        }
    }

    static String arg(String[] args, String name, String fallback) {
        for (int i = 0; i + 1 < args.length; i++) if (args[i].equals(name)) return args[i + 1];
        return fallback;
    }
}
