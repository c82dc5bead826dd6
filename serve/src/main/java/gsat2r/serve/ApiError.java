package gsat2r.serve;

/**
 * A request the server answers with an error: an HTTP status and OpenAI's error body
 * {@code {"error": {"message", "type", "param", "code"}}}. Thrown while a request is parsed, queued or run;
 * the HTTP layer turns it into the response (or into an error event of a stream already under way).
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type, param, code;
    /** With a 405: the method the route takes (the {@code Allow} header). */
    final String allow;

    ApiError(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, null);
    }

    private ApiError(int status, String type, String param, String code, String message, String allow) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.allow = allow;
    }

    /** 405: the route takes only {@code allowed}. */
    static ApiError methodNotAllowed(String method, String allowed) {
        return new ApiError(405, "invalid_request_error", null, "method_not_allowed", method + " is not allowed here; use " + allowed, allowed);
    }

    /** 400: the request is wrong; {@code param} names the field (null when none). */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    static ApiError invalid(String param, String code, String message) {
        return new ApiError(400, "invalid_request_error", param, code, message);
    }

    static ApiError notFound(String code, String message) {
        return new ApiError(404, "invalid_request_error", null, code, message);
    }

    /** 429: the waiting queue is full. */
    static ApiError busy(String message) {
        return new ApiError(429, "rate_limit_error", null, "queue_full", message);
    }

    /** 503: the server is shutting down. */
    static ApiError unavailable(String message) {
        return new ApiError(503, "server_error", null, "shutting_down", message);
    }

    /** 500: the model failed on this request (the server goes on). */
    static ApiError server(String message) {
        return new ApiError(500, "server_error", null, null, message);
    }
}
