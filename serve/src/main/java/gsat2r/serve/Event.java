package gsat2r.serve;

/** What the scheduler tells the HTTP side of a request, in order, through the request's {@link Job}. */
sealed interface Event {

    /** New text of choice {@code choice} (never empty). */
    record Text(int choice, String text) implements Event {}

    /** Choice {@code choice} is complete: {@code reason} is OpenAI's finish_reason, {@code "stop"} or {@code "length"}. */
    record Finish(int choice, String reason) implements Event {}

    /**
     * Every choice is complete (the last event).
     *
     * @param cachedTokens prompt tokens whose state came from the prefix cache
     */
    record Done(int promptTokens, int completionTokens, int cachedTokens) implements Event {}

    /** The request failed (the last event); the server goes on. */
    record Failed(ApiError error) implements Event {}
}
