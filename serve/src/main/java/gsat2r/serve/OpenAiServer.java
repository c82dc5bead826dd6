package gsat2r.serve;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.net.URI;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * {@code t2r serve}: an OpenAI-compatible HTTP server for one model, on Jetty 12 (core handlers, no servlet API).
 * Request threads are virtual threads that parse, queue and write; one {@link Scheduler} thread runs the model
 * with continuous batching and a {@link PrefixCache}. See docs/serve.md.
 *
 * <pre>{@code
 * try (OpenAiServer server = OpenAiServer.start(model, tokenizer, TranscriptChatFormat.INSTANCE,
 *         ServeOptions.defaults("student", 2048), System.err::println)) {
 *     System.out.println(server.uri());          // http://127.0.0.1:PORT/
 *     ...
 * }
 * }</pre>
 */
public final class OpenAiServer implements AutoCloseable {
    private final Server jetty;
    private final ServerConnector connector;
    private final Scheduler scheduler;
    private final Consumer<String> log;
    private boolean stopped;
    private final java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);

    private OpenAiServer(Server jetty, ServerConnector connector, Scheduler scheduler, Consumer<String> log) {
        this.jetty = jetty;
        this.connector = connector;
        this.scheduler = scheduler;
        this.log = log;
    }

    /**
     * Starts serving {@code model} (which the server then uses from its scheduler thread only) with
     * {@code tokenizer}; log lines (one per request, and the scheduler's notes) go to {@code log}. Fails with one
     * line when the address cannot be bound.
     */
    public static OpenAiServer start(LanguageModel model, Tokenizer tokenizer, ChatFormat chatFormat, ServeOptions options,
                                     Consumer<String> log) {
        PrefixCache cache = new PrefixCache(options.prefixCacheBytes());
        Scheduler scheduler = new Scheduler(model, tokenizer, options.maxBatch(), options.maxQueue(), cache, log);
        RequestParser parser = new RequestParser(tokenizer, model.vocabSize(), options.maxContext(), options.maxBatch(),
                options.maxQueue(), options.modelName(), chatFormat, options.sampling());

        QueuedThreadPool pool = new QueuedThreadPool();
        pool.setName("t2r-http");
        // Handlers block while their request runs: on virtual threads a waiting request costs no platform thread.
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        Server jetty = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        ServerConnector connector = new ServerConnector(jetty, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(60_000);
        jetty.addConnector(connector);
        jetty.setHandler(new GracefulHandler(new ApiHandler(scheduler, parser, cache, options, tokenizer, chatFormat, log)));
        jetty.setErrorHandler(new JsonErrorHandler());
        jetty.setStopTimeout(5_000);
        scheduler.start();
        try {
            jetty.start();
        } catch (Exception e) {
            closeQuietly(scheduler);
            throw new T2rException("cannot listen on " + options.host() + ":" + options.port() + ": " + bindProblem(e), e);
        }
        return new OpenAiServer(jetty, connector, scheduler, log);
    }

    /** The port listened on (the one picked when the options said 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** {@code http://host:port/}. */
    public URI uri() {
        String host = connector.getHost() == null ? "127.0.0.1" : connector.getHost();
        if (host.contains(":")) host = "[" + host + "]";
        return URI.create("http://" + host + ":" + port() + "/");
    }

    /**
     * Graceful shutdown: new requests get 503 at once, those queued or running may finish for up to
     * {@code graceMillis}; after that they fail with 503, and the server stops.
     */
    public synchronized void shutdown(long graceMillis) {
        if (stopped) return;
        stopped = true;
        scheduler.stopAccepting();
        try {
            if (!scheduler.awaitIdle(graceMillis)) {
                log.accept("shutdown: requests still running after " + graceMillis + " ms are cut off");
            }
            scheduler.close();
            jetty.stop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.accept("shutdown: " + oneLine(e));
        } finally {
            done.countDown();
        }
    }

    /** Blocks until {@link #shutdown} has finished. */
    public void awaitShutdown() throws InterruptedException {
        done.await();
    }

    /** Stops at once (running requests fail with 503). */
    @Override
    public void close() {
        shutdown(0);
    }

    private static void closeQuietly(Scheduler scheduler) {
        try {
            scheduler.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Why the address could not be bound, in the options' terms: Jetty's "Failed to bind to /127.0.0.1:8000" says neither. */
    static String bindProblem(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.BindException b) {
                String m = String.valueOf(b.getMessage());
                if (m.contains("in use")) return "the port is in use (give another --port, or 0 for a free one)";
                if (m.contains("assign requested address")) return "this machine has no such address (--host)";
                if (m.contains("ermission")) return "permission denied (ports below 1024 need privileges)";
                return m;
            }
        }
        return oneLine(e);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
