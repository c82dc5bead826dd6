package gsat2r.serve;

import gsat2r.core.model.LanguageModel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One request inside the server: its validated parameters, the events the scheduler sends back to the HTTP
 * thread that waits on it, and (scheduler side only) its prefill progress and its choices' sequences.
 */
final class Job {
    final String id;
    final GenerationRequest request;
    /** The index its first choice has in the response: a request of several prompts numbers their choices in turn. */
    final int firstChoice;
    /** The jobs of the same request (one per prompt), this one included; set before it is queued. */
    List<Job> group = List.of();
    final long createdNanos = System.nanoTime();
    final long createdEpochSeconds = System.currentTimeMillis() / 1000;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;
    /** When the first new token was sampled (0 until then); written by the scheduler, read by the HTTP side. */
    volatile long firstTokenNanos;

    // Scheduler thread only.
    LanguageModel.Decoder lead;
    int prefilled, cachedTokens, completionTokens, finishedChoices;
    /** Whether the lead's state grows with the prompt (a KV cache), known from the first state cached or restored. */
    boolean stateGrows;
    /** The prompt's log-probabilities so far, when the request asks for them. */
    final List<TokenLogprob> promptLogprobs = new ArrayList<>();
    final List<Sequence> sequences = new ArrayList<>();
    boolean over;

    Job(String id, GenerationRequest request, int firstChoice) {
        this.id = id;
        this.request = request;
        this.firstChoice = firstChoice;
    }

    /** Gives back what the job's decoders hold outside the heap (device memory on a GPU model); harmless twice. */
    void releaseDecoders() {
        if (lead != null) lead.release();
        for (Sequence s : sequences) s.decoder.release();
    }

    /** The client went away: the scheduler drops the job's sequences at its next iteration, freeing their slots. */
    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    void send(Event e) {
        events.add(e);
    }

    /** The next event, waiting up to {@code millis}; null on time-out. */
    Event next(long millis) throws InterruptedException {
        return events.poll(millis, TimeUnit.MILLISECONDS);
    }
}
