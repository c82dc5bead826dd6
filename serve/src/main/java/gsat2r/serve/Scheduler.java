package gsat2r.serve;

import gsat2r.core.T2rException;
import gsat2r.core.generate.StopText;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.StreamingDecoder;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Continuous batching: the one thread that runs the model. Requests wait in a bounded queue; between two decode
 * steps the scheduler admits waiting requests while there are free sequence slots ({@code maxBatch}), feeds their
 * prompts a {@link PrefillPlan piece} at a time (at most {@link #PREFILL_TOKENS} tokens per iteration, so that a
 * long prompt delays the others' next token by a bounded amount), reusing and filling the {@link PrefixCache}, then
 * steps every sequence that has a token to feed in ONE {@link BatchDecoder} call, samples each one's next token and
 * streams its text to its request. Finished, failed and cancelled requests leave between steps.
 *
 * <p>Every model call happens on this thread (a GPU model may rely on that). A failure is confined to the requests
 * it concerns: a sequence that fails in the batched step, or a prefill or sampling that throws, fails its request
 * only; a step that throws as a whole fails the requests of that step; the thread itself never dies of it.
 */
final class Scheduler {
    /** Prompt tokens fed per iteration at most (whole pieces, at least one). */
    static final int PREFILL_TOKENS = 256;

    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final BatchDecoder batch;
    private final int maxBatch, maxQueue;
    private final PrefixCache cache;
    private final Consumer<String> log;
    private final Thread thread;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private boolean accepting = true, closed;

    // Scheduler thread only.
    private final List<Job> prefilling = new ArrayList<>(), decoding = new ArrayList<>();
    private boolean caching;
    /** Sequence slots in use, and whether any job is prefilling or decoding (read by other threads). */
    private volatile int activeSequences;
    private volatile boolean busy;

    Scheduler(LanguageModel model, Tokenizer tokenizer, int maxBatch, int maxQueue, PrefixCache cache, Consumer<String> log) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.batch = model.batchDecoder();
        this.maxBatch = maxBatch;
        this.maxQueue = maxQueue;
        this.cache = cache;
        this.caching = cache.enabled();
        this.log = log;
        this.thread = Thread.ofPlatform().name("t2r-scheduler").daemon(true).unstarted(this::loop);
    }

    void start() {
        thread.start();
    }

    /**
     * Queues the prompts of one request, one job each, all or none (the queue holds prompts): 429 when it has no room
     * for them all, 503 once shutting down. A job that fails fails the others of its request too.
     */
    List<Job> submit(String id, List<GenerationRequest> requests) {
        List<Job> jobs = new ArrayList<>(requests.size());
        int choice = 0;
        for (GenerationRequest r : requests) {
            jobs.add(new Job(id, r, choice));
            choice += r.n();
        }
        for (Job j : jobs) j.group = List.copyOf(jobs);
        lock.lock();
        try {
            if (!accepting) throw ApiError.unavailable("the server is shutting down");
            if (waiting.size() + jobs.size() > maxQueue) {
                throw ApiError.busy("the server is busy: " + waiting.size() + " prompts are waiting already (--max-queue "
                        + maxQueue + ")" + (jobs.size() > 1 ? ", no room for " + jobs.size() + " more" : "") + "; retry later");
            }
            waiting.addAll(jobs);
            work.signal();
        } finally {
            lock.unlock();
        }
        return jobs;
    }

    /** Drops a request (its client went away); its sequences leave the batch at the next iteration. */
    void cancel(Job job) {
        job.cancel();
        wake();
    }

    int waitingCount() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    boolean accepting() {
        lock.lock();
        try {
            return accepting;
        } finally {
            lock.unlock();
        }
    }

    int activeSequences() {
        return activeSequences;
    }

    /** Refuses new requests from now on (503); those queued or running go on. */
    void stopAccepting() {
        lock.lock();
        try {
            accepting = false;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until nothing is queued or running, up to {@code millis}; whether it got there. */
    boolean awaitIdle(long millis) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (waitingCount() > 0 || activeSequences > 0 || busy) {
            if (System.nanoTime() > end) return false;
            Thread.sleep(20);
        }
        return true;
    }

    /** Stops the thread; requests still queued or running fail with 503. */
    void close() throws InterruptedException {
        lock.lock();
        try {
            accepting = false;
            closed = true;
            work.signal();
        } finally {
            lock.unlock();
        }
        thread.join();        // its model calls are short (a prefill piece, a step), and the model is closed after it
    }

    private void wake() {
        lock.lock();
        try {
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ the loop

    private void loop() {
        while (true) {
            try {
                if (!iteration()) break;
            } catch (Throwable t) {         // out of memory, a bug: the requests in flight fail, the server goes on
                log.accept("scheduler: " + describe(t) + "; failing the " + (prefilling.size() + decoding.size())
                        + " requests in flight");
                for (Job j : List.copyOf(prefilling)) fail(j, t);
                for (Job j : List.copyOf(decoding)) fail(j, t);
            }
        }
        ApiError down = ApiError.unavailable("the server is shutting down");
        for (Job j : List.copyOf(prefilling)) fail(j, down);
        for (Job j : List.copyOf(decoding)) fail(j, down);
        lock.lock();
        try {
            for (Job j : waiting) j.send(new Event.Failed(down));
            waiting.clear();
        } finally {
            lock.unlock();
        }
    }

    /** One round: admit, prefill some, one decode step. False when the scheduler is closed. */
    private boolean iteration() throws InterruptedException {
        dropCancelled();
        countActive();
        List<Job> admitted = admit();
        if (admitted == null) return false;
        for (Job j : admitted) begin(j);
        countActive();
        if (!busy) return true;
        prefillSome();
        decodeStep();
        countActive();
        return true;
    }

    /** Takes waiting requests while their choices fit in the free slots; waits when there is nothing at all to do. */
    private List<Job> admit() throws InterruptedException {
        lock.lock();
        try {
            if (closed) return null;
            if (prefilling.isEmpty() && decoding.isEmpty() && waiting.isEmpty()) work.await(100, TimeUnit.MILLISECONDS);
            List<Job> out = new ArrayList<>();
            int used = activeSequences;
            while (!waiting.isEmpty()) {
                Job j = waiting.peek();
                if (j.cancelled()) {
                    waiting.poll();
                    continue;
                }
                if (used + j.request.n() > maxBatch && used > 0) break;
                waiting.poll();
                out.add(j);
                used += j.request.n();
            }
            activeSequences = used;
            return out;
        } finally {
            lock.unlock();
        }
    }

    /** A request enters: a fresh decoder, restored from the longest cached prefix of its prompt. */
    private void begin(Job job) {
        try {
            int[] ids = job.request.promptIds();
            if (job.request.maxTokens() == 0 && !job.request.promptLogprobs()) {
                endWithoutTokens(job);
                return;
            }
            job.lead = model.newDecoder();
            int limit = PrefillPlan.lastBoundary(ids.length);
            // A short prompt is no miss; a prompt whose log-probabilities are asked for is read in full.
            PrefixCache.Hit hit = caching && limit > 0 && !job.request.promptLogprobs() ? cache.lookup(ids, limit) : null;
            if (hit != null) {
                job.stateGrows = grows(hit.state());
                job.lead.restoreState(hit.state());
                job.prefilled = job.cachedTokens = hit.length();
            }
            prefilling.add(job);
        } catch (RuntimeException | OutOfMemoryError e) {
            fail(job, e);
        }
    }

    /** Jobs whose client went away leave; their decoders' state is given back with them. */
    private void dropCancelled() {
        for (List<Job> jobs : List.of(prefilling, decoding)) {
            for (Job j : jobs) {
                if (j.cancelled() && !j.over) {
                    j.over = true;
                    j.releaseDecoders();
                }
            }
            jobs.removeIf(j -> j.over);
        }
    }

    /** Feeds prompt pieces, oldest request first, up to {@link #PREFILL_TOKENS} tokens. */
    private void prefillSome() {
        int budget = PREFILL_TOKENS;
        while (budget > 0 && !prefilling.isEmpty()) {
            Job job = prefilling.getFirst();
            try {
                budget -= prefillPiece(job);
            } catch (RuntimeException | OutOfMemoryError e) {
                fail(job, e);
            }
        }
    }

    /** Feeds the next piece of {@code job}'s prompt; returns its length. */
    private int prefillPiece(Job job) {
        int[] ids = job.request.promptIds();
        int from = job.prefilled, to = PrefillPlan.pieceEnd(from, ids.length);
        int[] piece = Arrays.copyOfRange(ids, from, to);
        float[] logits;
        if (job.request.promptLogprobs()) {
            float[][] rows = job.lead.prefillAll(piece);
            keepPromptLogprobs(job, from, rows);
            logits = rows[rows.length - 1];
        } else {
            logits = job.lead.prefill(piece);
        }
        job.prefilled = to;
        if (caching && PrefillPlan.isBoundary(to, ids.length) && !cache.contains(ids, to)) keepPrefix(job, ids, to);
        if (to == ids.length) {
            prefilling.remove(job);
            if (job.request.promptLogprobs()) job.send(new Event.Prompt(List.copyOf(job.promptLogprobs)));
            if (job.request.maxTokens() == 0) endWithoutTokens(job);
            else startChoices(job, logits);
        }
        return to - from;
    }

    /**
     * The log-probabilities of the prompt's tokens after those of a piece from {@code from}: row j predicts token
     * from + j + 1. Each row is a pass over the vocabulary; the rows run on every core, since the model waits for them.
     */
    private static void keepPromptLogprobs(Job job, int from, float[][] rows) {
        int[] ids = job.request.promptIds();
        if (from == 0) job.promptLogprobs.add(TokenLogprob.none(ids[0]));
        int scored = Math.min(rows.length, ids.length - 1 - from);
        job.promptLogprobs.addAll(java.util.stream.IntStream.range(0, scored).parallel()
                .mapToObj(j -> TokenLogprob.of(rows[j], ids[from + j + 1], job.request.logprobs())).toList());
    }

    /** A request for no new tokens (the prompt's log-probabilities at most): each choice ends at once. */
    private void endWithoutTokens(Job job) {
        for (int c = 0; c < job.request.n(); c++) job.send(new Event.Finish(c, "length", List.of()));
        job.send(new Event.Done(job.request.promptIds().length, 0, job.cachedTokens));
        job.over = true;
        job.releaseDecoders();
    }

    /**
     * Caches the lead's state after {@code length} tokens. A state that grows with the prompt (a KV cache: a teacher,
     * a hybrid) is kept only at 64 · 2^k tokens and at the prompt's last boundary, so that one long prompt holds
     * about three times its final cache, not a copy at every 64 tokens; a constant-size one (a GSA student) at every
     * boundary. A state larger than the whole cache is not copied at all.
     */
    private void keepPrefix(Job job, int[] ids, int length) {
        boolean last = length == PrefillPlan.lastBoundary(ids.length);
        if (job.stateGrows && !last && Integer.bitCount(length / PrefixCache.BLOCK) != 1) return;
        if (job.lead.stateBytes() > cache.maxBytes()) return;
        try {
            DecoderState state = job.lead.saveState();
            job.stateGrows = grows(state);
            cache.put(ids, length, state);
        } catch (T2rException e) {
            caching = false;
            log.accept("prefix cache off: " + e.getMessage());
        }
    }

    /** Whether a state grows with the tokens read: it holds a KV cache (a teacher's or a hybrid's attention layer). */
    private static boolean grows(DecoderState state) {
        return state.layers().stream().anyMatch(l -> l instanceof DecoderState.KeyValue);
    }

    /** The prompt is in: one sequence per choice (copies of the lead's state), each sampling its first token. */
    private void startChoices(Job job, float[] logits) {
        GenerationRequest r = job.request;
        int[] ids = r.promptIds();
        for (int c = 0; c < r.n(); c++) {
            LanguageModel.Decoder d = c == 0 ? job.lead : copyOf(job.lead, ids);
            int[] counts = r.sampling().adjusts() ? new int[model.vocabSize()] : null;
            Sequence s = new Sequence(c, d, r.sampling().sampler(c), new StreamingDecoder(tokenizer, ids), new StopText(r.stops()), counts,
                    r.logprobs() >= 0);
            if (r.sampling().needsHistory()) {
                s.history = Arrays.copyOf(ids, ids.length + Math.min(r.maxTokens(), 1024));
                s.historyLength = ids.length;
            }
            job.sequences.add(s);
        }
        decoding.add(job);
        TokenLogprob.Position position = r.logprobs() >= 0 ? TokenLogprob.Position.of(logits, r.logprobs()) : null;
        for (Sequence s : job.sequences) {
            if (!job.over) accept(job, s, logits, position);
        }
    }

    /** Another decoder at the lead's state: restored from a saved state, or (a model that cannot save one) prefilled anew. */
    private LanguageModel.Decoder copyOf(LanguageModel.Decoder lead, int[] ids) {
        LanguageModel.Decoder d = model.newDecoder();
        try {
            d.restoreState(lead.saveState());
        } catch (T2rException e) {
            d.prefill(ids);
        }
        return d;
    }

    /** One batched step over every sequence with a token to feed. */
    private void decodeStep() {
        List<Sequence> seqs = new ArrayList<>();
        List<Job> owners = new ArrayList<>();
        for (Job j : decoding) {
            for (Sequence s : j.sequences) {
                if (!s.finished && s.pending >= 0) {
                    seqs.add(s);
                    owners.add(j);
                }
            }
        }
        if (seqs.isEmpty()) return;
        int[] ids = new int[seqs.size()];
        List<LanguageModel.Decoder> decoders = new ArrayList<>(seqs.size());
        for (int i = 0; i < ids.length; i++) {
            ids[i] = seqs.get(i).pending;
            decoders.add(seqs.get(i).decoder);
        }
        BatchDecoder.Step step;
        try {
            step = batch.next(decoders, ids);
        } catch (RuntimeException | OutOfMemoryError e) {
            for (Job j : owners) if (!j.over) fail(j, e);
            return;
        }
        TokenLogprob.Position[] positions = logprobPositions(owners, step);
        for (int i = 0; i < ids.length; i++) {
            Job j = owners.get(i);
            if (j.over) continue;
            if (step.failed(i)) fail(j, step.failures()[i]);
            else accept(j, seqs.get(i), step.logits()[i], positions[i]);
        }
    }

    /** The passes over the vocabulary of the rows whose requests ask for log-probabilities, on every core (null: none). */
    private static TokenLogprob.Position[] logprobPositions(List<Job> owners, BatchDecoder.Step step) {
        TokenLogprob.Position[] out = new TokenLogprob.Position[owners.size()];
        if (owners.stream().noneMatch(j -> j.request.logprobs() >= 0)) return out;      // the common case: no pool dispatch
        java.util.stream.IntStream.range(0, out.length).parallel().forEach(i -> {
            int top = owners.get(i).request.logprobs();
            if (top >= 0 && !step.failed(i)) out[i] = TokenLogprob.Position.of(step.logits()[i], top);
        });
        return out;
    }

    /**
     * Samples sequence {@code s}'s next token from {@code logits} and sends its text; ends the choice when it is done.
     * {@code position}: the log-probabilities' passes over {@code logits}, when the request asks for them.
     */
    private void accept(Job job, Sequence s, float[] logits, TokenLogprob.Position position) {
        GenerationRequest r = job.request;
        int id;
        try {
            float[] x = s.counts == null ? logits : r.sampling().adjust(logits, s.counts);
            id = s.history == null ? s.sampler.sample(x) : s.sampler.sample(x, s.history, s.historyLength);
        } catch (RuntimeException e) {
            fail(job, e);
            return;
        }
        if (job.firstTokenNanos == 0) job.firstTokenNanos = System.nanoTime();
        if (s.unsent != null) s.unsent.add(position.token(logits, id));
        s.generated++;
        job.completionTokens++;
        if (s.counts != null) s.counts[id]++;
        if (s.history != null) {
            if (s.historyLength == s.history.length) s.history = Arrays.copyOf(s.history, 2 * s.history.length + 1);
            s.history[s.historyLength++] = id;
        }
        s.pending = -1;
        if (tokenizer.isEos(id)) {
            finish(job, s, "stop");
            return;
        }
        send(job, s, s.stop.push(s.text.push(id)));
        if (s.stop.stopped()) finish(job, s, "stop");
        else if (s.generated == r.maxTokens()) finish(job, s, "length");
        else s.pending = id;
    }

    private void finish(Job job, Sequence s, String reason) {
        String rest = s.stop.end(s.text.finish());
        if (s.stop.stopped()) reason = "stop";
        send(job, s, rest);
        s.finished = true;
        s.decoder.release();           // a GPU model's KV cache or recurrent state, back at once rather than after GC
        job.send(new Event.Finish(s.choice, reason, s.takeLogprobs()));
        if (++job.finishedChoices == job.request.n()) {
            job.over = true;
            decoding.remove(job);
            job.send(new Event.Done(job.request.promptIds().length, job.completionTokens, job.cachedTokens));
        }
    }

    private static void send(Job job, Sequence s, String text) {
        if (!text.isEmpty()) job.send(new Event.Text(s.choice, text, s.takeLogprobs()));
    }

    /** Fails {@code job}, and the other prompts of its request with it: their answer is the one error. */
    private void fail(Job job, Throwable t) {
        ApiError e = t instanceof ApiError a ? a : ApiError.server("the model failed on this request: " + describe(t));
        if (!(t instanceof ApiError)) log.accept("request " + job.id + " failed: " + describe(t));
        end(job, e);
        for (Job other : job.group) end(other, e);
    }

    /** Ends a job that is still on (queued ones are cancelled, so that they are never admitted) with {@code e}. */
    private void end(Job job, ApiError e) {
        if (job.over) return;
        job.over = true;
        job.cancel();
        prefilling.remove(job);
        decoding.remove(job);
        job.releaseDecoders();
        job.send(new Event.Failed(e));
    }

    private void countActive() {
        int n = 0;
        for (Job j : prefilling) n += j.request.n();
        for (Job j : decoding) n += j.request.n();
        activeSequences = n;
        busy = n > 0;
    }

    private static String describe(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }
}
