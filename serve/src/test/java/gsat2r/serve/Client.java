package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/** A small HTTP client of the API for the tests (the JDK's HttpClient). */
final class Client {
    static final JsonMapper JSON = JsonMapper.builder().build();

    /** A response: its status and body parsed as JSON (null when it is not JSON). */
    record Reply(int status, JsonNode json, String body, java.net.http.HttpHeaders headers) {}

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final URI base;

    Client(URI base) {
        this.base = base;
    }

    Reply post(String path, String body) {
        return send(HttpRequest.newBuilder(base.resolve(path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json").build());
    }

    Reply post(String path, JsonNode body) {
        return post(path, body.toString());
    }

    Reply get(String path) {
        return send(HttpRequest.newBuilder(base.resolve(path)).GET().build());
    }

    /** The {@code data:} payloads of a streamed response, in order ({@code [DONE]} included). */
    List<String> stream(String path, JsonNode body) {
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(base.resolve(path))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) throw new AssertionError("status " + r.statusCode() + ": " + String.join("\n", r.body().toList()));
            if (!r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream")) {
                throw new AssertionError("content type " + r.headers().firstValue("content-type"));
            }
            return r.body().filter(l -> !l.isEmpty() && !l.startsWith(":")).map(l -> {     // ':' lines are SSE comments (keep-alives)
                if (!l.startsWith("data: ")) throw new AssertionError("not an SSE data line: " + l);
                return l.substring(6);
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private Reply send(HttpRequest request) {
        try {
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            JsonNode json;
            try {
                json = JSON.readTree(r.body());
            } catch (IOException e) {
                json = null;
            }
            return new Reply(r.statusCode(), json, r.body(), r.headers());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
