package gsat2r.serve;

/**
 * How {@link OpenAiServer} runs.
 *
 * @param host             address to listen on (127.0.0.1 by default in the CLI)
 * @param port             TCP port; 0 picks a free one ({@link OpenAiServer#port()} tells which)
 * @param modelName        the model id of {@code /v1/models} and the responses; a request naming another is a 404
 * @param maxBatch         sequences decoded together at most (the choices of running requests)
 * @param maxQueue         requests waiting for a slot at most (every request waits, if only until the next step); beyond, 429
 * @param prefixCacheBytes bytes of prompt-prefix states kept (0: no cache)
 * @param maxContext       prompt plus new tokens of one request at most
 * @param maxBodyBytes     largest request body accepted (413 beyond)
 * @param sampling         what a request that leaves out temperature, top_p or top_k gets
 */
public record ServeOptions(String host, int port, String modelName, int maxBatch, int maxQueue, long prefixCacheBytes,
                           int maxContext, int maxBodyBytes, SamplingDefaults sampling) {

    public static final int DEFAULT_MAX_BATCH = 32;
    public static final int DEFAULT_MAX_QUEUE = 256;
    public static final long DEFAULT_PREFIX_CACHE_BYTES = 256L << 20;
    public static final int DEFAULT_MAX_BODY_BYTES = 8 << 20;

    public ServeOptions {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        if (maxBatch < 1) throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
        if (maxQueue < 1) throw new IllegalArgumentException("max queue must be >= 1, got " + maxQueue);
        if (prefixCacheBytes < 0) throw new IllegalArgumentException("prefix cache bytes must be >= 0, got " + prefixCacheBytes);
        if (maxContext < 1) throw new IllegalArgumentException("max context must be >= 1, got " + maxContext);
        if (modelName == null || modelName.isBlank()) throw new IllegalArgumentException("the model name is empty");
        if (sampling == null) throw new IllegalArgumentException("no sampling defaults");
    }

    /** Loopback, a free port, the defaults. */
    public static ServeOptions defaults(String modelName, int maxContext) {
        return new ServeOptions("127.0.0.1", 0, modelName, DEFAULT_MAX_BATCH, DEFAULT_MAX_QUEUE, DEFAULT_PREFIX_CACHE_BYTES,
                maxContext, DEFAULT_MAX_BODY_BYTES, SamplingDefaults.OPENAI);
    }

    public ServeOptions withMaxBatch(int n) {
        return new ServeOptions(host, port, modelName, n, maxQueue, prefixCacheBytes, maxContext, maxBodyBytes, sampling);
    }

    public ServeOptions withMaxQueue(int n) {
        return new ServeOptions(host, port, modelName, maxBatch, n, prefixCacheBytes, maxContext, maxBodyBytes, sampling);
    }

    public ServeOptions withPrefixCacheBytes(long bytes) {
        return new ServeOptions(host, port, modelName, maxBatch, maxQueue, bytes, maxContext, maxBodyBytes, sampling);
    }

    public ServeOptions withSampling(SamplingDefaults defaults) {
        return new ServeOptions(host, port, modelName, maxBatch, maxQueue, prefixCacheBytes, maxContext, maxBodyBytes, defaults);
    }
}
